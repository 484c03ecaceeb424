using System;
using VirtioMedia.Runtime.VhostUser.Interop;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>Anonymous shared memory (memfd_create) of a fixed size, mapped in this process and
/// passable to another with SCM_RIGHTS.</summary>
public sealed class MemoryFile : IDisposable
{
    private MemoryFile(UnixFileDescriptor fd, MemoryMapping mapping)
    {
        Descriptor = fd;
        Mapping = mapping;
    }

    /// <summary>Creates a zero-filled memfd of <paramref name="length"/> bytes (rounded up to a page) and maps it.</summary>
    public static MemoryFile Create(string name, ulong length)
    {
        var page = (ulong)Environment.SystemPageSize;
        if (length == 0 || length > long.MaxValue - page)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "a memory file needs a positive size");
        }
        length = (length + page - 1) / page * page;
        var fd = new UnixFileDescriptor(LibC.Check(LibC.MemfdCreate(name, LibC.MFD_CLOEXEC | LibC.MFD_ALLOW_SEALING), "memfd_create"));
        try
        {
            fd.With(raw => LibC.Check(LibC.Ftruncate(raw, (long)length), "ftruncate"));
            return new MemoryFile(fd, MemoryMapping.Map(fd, 0, length));
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>The memfd.</summary>
    public UnixFileDescriptor Descriptor { get; }

    /// <summary>This process's mapping of the whole file.</summary>
    public MemoryMapping Mapping { get; }

    /// <summary>The size in bytes.</summary>
    public ulong Length => Mapping.Length;

    /// <inheritdoc/>
    public void Dispose()
    {
        Mapping.Dispose();
        Descriptor.Dispose();
    }
}
