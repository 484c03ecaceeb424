using System;
using System.Threading;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Runtime.Driver;

/// <summary>
/// An MMAP buffer mapped through shared memory region 0 (VIRTIO_MEDIA_CMD_MMAP): valid until unmapped, until the
/// device takes the range back (<see cref="ISharedMemoryUnmapSource"/>), or until its endpoint is disposed.
/// </summary>
public sealed class MappedBuffer
{
    private readonly SharedMemoryRegion _region;
    private string? _revoked;

    internal MappedBuffer(SharedMemoryRegion region, ulong driverAddress, ulong length)
    {
        _region = region;
        DriverAddress = driverAddress;
        Length = length;
    }

    /// <summary>The offset in shared memory region 0 the device answered.</summary>
    public ulong DriverAddress { get; }

    /// <summary>The mapping's length the device answered (the buffer's length).</summary>
    public ulong Length { get; }

    /// <summary>Whether MUNMAP has been sent.</summary>
    public bool IsUnmapped { get; internal set; }

    /// <summary>Whether the mapping was taken away without MUNMAP (the device unmapped the range, or the endpoint
    /// was disposed): its bytes are no longer the buffer's.</summary>
    public bool IsRevoked => Volatile.Read(ref _revoked) is not null;

    /// <summary>The mapped bytes.</summary>
    /// <exception cref="ObjectDisposedException">MUNMAP was sent, or the mapping was revoked (the message says why).</exception>
    public Span<byte> Span
    {
        get
        {
            if (Volatile.Read(ref _revoked) is { } reason)
            {
                throw new ObjectDisposedException(nameof(MappedBuffer), reason);
            }
            ObjectDisposedException.ThrowIf(IsUnmapped, this);
            return _region.GetSpan(DriverAddress, Length);
        }
    }

    internal bool Overlaps(ulong offset, ulong length) => DriverAddress < offset + length && offset < DriverAddress + Length;

    internal void Revoke(string reason) => Interlocked.CompareExchange(ref _revoked, reason, null);
}
