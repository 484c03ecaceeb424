using System;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Runtime.Driver;

/// <summary>An MMAP buffer mapped through shared memory region 0 (VIRTIO_MEDIA_CMD_MMAP): valid until unmapped.</summary>
public sealed class MappedBuffer
{
    private readonly SharedMemoryRegion _region;

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

    /// <summary>The mapped bytes.</summary>
    public Span<byte> Span => IsUnmapped ? throw new ObjectDisposedException(nameof(MappedBuffer)) : _region.GetSpan(DriverAddress, Length);
}
