using System;
using System.Threading;
using VirtioMedia.Runtime.VhostUser.Interop;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>
/// A mapping of the start of a file that several memory tables may share: QEMU sends a whole new
/// table whenever one region appears or goes (SHMEM_MAP adds the back-end's own memfd), and the
/// regions that did not change keep the mapping they had, found by the file's identity
/// (st_dev, st_ino) and the mapped length. Reference-counted: unmapped when the last table or
/// running device that uses it lets go.
/// </summary>
internal sealed unsafe class FileMapping
{
    private readonly MemoryMapping _mapping;
    private int _references = 1;

    private FileMapping(MemoryMapping mapping, ulong device, ulong inode)
    {
        _mapping = mapping;
        Device = device;
        Inode = inode;
    }

    /// <summary>The st_dev of the mapped file.</summary>
    public ulong Device { get; }

    /// <summary>The st_ino of the mapped file.</summary>
    public ulong Inode { get; }

    /// <summary>Bytes mapped from offset 0.</summary>
    public ulong Length => _mapping.Length;

    /// <summary>The address of file offset 0.</summary>
    public IntPtr Address => _mapping.Address;

    /// <summary>The identity of an open file.</summary>
    public static (ulong Device, ulong Inode) Identify(UnixFileDescriptor fd)
    {
        var stat = stackalloc byte[LibC.StatBufferSize];
        using var lease = fd.Acquire();
        LibC.Check(LibC.Fstat(lease.Fd, stat), "fstat");
        return (*(ulong*)stat, *(ulong*)(stat + 8));
    }

    /// <summary>Maps [0, <paramref name="length"/>) of <paramref name="fd"/>, holding one reference.</summary>
    public static FileMapping Map(UnixFileDescriptor fd, ulong length)
    {
        var (device, inode) = Identify(fd);
        return new FileMapping(MemoryMapping.Map(fd, 0, length), device, inode);
    }

    /// <summary>Whether this maps at least [0, <paramref name="length"/>) of the file identified.</summary>
    public bool Covers(ulong device, ulong inode, ulong length) => device == Device && inode == Inode && length <= Length;

    /// <summary>Takes one more reference.</summary>
    public FileMapping AddReference()
    {
        if (Interlocked.Increment(ref _references) <= 1)
        {
            throw new ObjectDisposedException(nameof(FileMapping), "the mapping was already released");
        }
        return this;
    }

    /// <summary>Drops one reference; the last one unmaps.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            _mapping.Dispose();
        }
    }
}
