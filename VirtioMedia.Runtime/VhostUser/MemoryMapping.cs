using System;
using VirtioMedia.Runtime.VhostUser.Interop;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>A shared mapping of a file (a memfd, usually) into this process, unmapped when disposed.</summary>
public sealed unsafe class MemoryMapping : IDisposable
{
    private void* _address;

    private MemoryMapping(void* address, ulong length)
    {
        _address = address;
        Length = length;
    }

    /// <summary>Maps [<paramref name="offset"/>, +<paramref name="length"/>) of <paramref name="fd"/> read-write and shared.
    /// Fails when the range is not inside the file, so no access can ever hit past its end (SIGBUS); and where
    /// the file allows it (a memfd created with MFD_ALLOW_SEALING) seals it against shrinking first, so the
    /// other process cannot truncate it under the mapping later either.</summary>
    public static MemoryMapping Map(UnixFileDescriptor fd, ulong offset, ulong length)
    {
        if (length == 0 || offset + length < offset || offset % (ulong)Environment.SystemPageSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"cannot map [0x{offset:X}, +{length}): empty, wrapping or offset not page-aligned");
        }
        var address = fd.With(raw =>
        {
            // Best effort: a file that takes no seals (a regular file, a memfd without MFD_ALLOW_SEALING)
            // is mapped all the same, as vhost-user front-ends are free to share memory that way.
            LibC.Fcntl(raw, LibC.F_ADD_SEALS, LibC.F_SEAL_SHRINK);
            var size = LibC.Lseek(raw, 0, LibC.SEEK_END);
            if (size < 0)
            {
                throw LibC.Failure("lseek", LibC.LastError);
            }
            if ((ulong)size < offset + length)
            {
                throw new ArgumentOutOfRangeException(nameof(length), $"[0x{offset:X}, +{length}) is beyond the end of a {size}-byte file");
            }
            var mapped = LibC.Mmap(null, (nuint)length, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, raw, (long)offset);
            return mapped == LibC.MapFailed ? throw LibC.Failure("mmap", LibC.LastError) : (IntPtr)mapped;
        });
        return new MemoryMapping((void*)address, length);
    }

    /// <summary>Seals <paramref name="fd"/> against shrinking where it takes seals; true when it can no
    /// longer shrink (sealed now or before, as QEMU's memory-backend-memfd seals its files itself).
    /// False for a file that takes no seals: a regular file (on /dev/shm, say) or a memfd created without
    /// MFD_ALLOW_SEALING, which its other holders may truncate under a mapping.</summary>
    public static bool TrySealAgainstShrinking(UnixFileDescriptor fd)
    {
        fd.With(raw => LibC.Fcntl(raw, LibC.F_ADD_SEALS, LibC.F_SEAL_SHRINK));
        return IsSealedAgainstShrinking(fd);
    }

    /// <summary>Whether <paramref name="fd"/> can no longer shrink (F_SEAL_SHRINK is set).</summary>
    public static bool IsSealedAgainstShrinking(UnixFileDescriptor fd) =>
        fd.With(raw => LibC.Fcntl(raw, LibC.F_GET_SEALS, 0)) is var seals && seals >= 0 && (seals & LibC.F_SEAL_SHRINK) != 0;

    /// <summary>The first mapped byte.</summary>
    public IntPtr Address => (IntPtr)_address;

    /// <summary>The mapped length in bytes.</summary>
    public ulong Length { get; }

    /// <summary>The mapped bytes (up to 2 GiB).</summary>
    public Span<byte> Span => _address == null ? throw new ObjectDisposedException(nameof(MemoryMapping)) : new Span<byte>(_address, (int)Math.Min(Length, int.MaxValue));

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_address != null)
        {
            LibC.Munmap(_address, (nuint)Length);
            _address = null;
        }
    }
}
