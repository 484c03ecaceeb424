using System;
using VirtioMedia.Runtime.Memory;

namespace VirtioMedia.Runtime.Transport;

/// <summary>
/// A virtio shared memory region (virtio-media uses region 0 for MMAP buffers): memory the device owns
/// and the driver maps, addressed by offset. In-process it is native memory both endpoints see; over
/// vhost-user it is a memfd the backend maps and hands to the frontend with SHMEM_MAP. A transport
/// without the region (a VMM that does not negotiate vhost-user SHMEM, or none configured) has one of
/// <see cref="Length"/> 0 that refuses every access (<see cref="None"/>).
/// </summary>
public sealed unsafe class SharedMemoryRegion : IDisposable
{
    private readonly bool _ownsMemory;
    private byte* _host;

    /// <summary>Wraps host memory the caller keeps mapped for the region's lifetime.</summary>
    public SharedMemoryRegion(byte id, IntPtr host, ulong length)
    {
        if (host == IntPtr.Zero || length == 0)
        {
            throw new ArgumentException("a shared memory region needs memory");
        }
        Id = id;
        _host = (byte*)host;
        Length = length;
    }

    private SharedMemoryRegion(byte id, byte* host, ulong length, bool ownsMemory)
    {
        Id = id;
        _host = host;
        Length = length;
        _ownsMemory = ownsMemory;
    }

    /// <summary>Allocates zeroed, page-aligned native memory for a region; <paramref name="length"/> 0
    /// gives <see cref="None"/> (nothing allocated).</summary>
    public static SharedMemoryRegion Allocate(byte id, ulong length) =>
        length == 0 ? None(id) : new SharedMemoryRegion(id, PageMemory.Allocate(length), length, ownsMemory: true);

    /// <summary>The region a transport has when the device has no shared memory region
    /// <paramref name="id"/>: <see cref="Length"/> 0, no memory, every access refused. A device reads
    /// <c>Length &gt; 0</c> to tell whether it may hand out MMAP buffers.</summary>
    public static SharedMemoryRegion None(byte id) => new(id, null, 0, ownsMemory: false);

    /// <summary>The virtio shared memory region id (0 for virtio-media MMAP buffers).</summary>
    public byte Id { get; }

    /// <summary>The region's size in bytes.</summary>
    public ulong Length { get; }

    /// <summary>The host address of offset 0 (zero when the region does not exist).</summary>
    public IntPtr Host => (IntPtr)_host;

    /// <summary>The bytes at [<paramref name="offset"/>, +<paramref name="length"/>), or false outside the region.</summary>
    public bool TryGetSpan(ulong offset, ulong length, out Span<byte> span)
    {
        if (_host == null || offset > Length || length > Length - offset || length > int.MaxValue)
        {
            span = default;
            return false;
        }
        span = new Span<byte>(_host + offset, (int)length);
        return true;
    }

    /// <summary>The bytes at an offset; throws <see cref="ArgumentOutOfRangeException"/> outside the region.</summary>
    public Span<byte> GetSpan(ulong offset, ulong length) =>
        TryGetSpan(offset, length, out var span)
            ? span
            : throw new ArgumentOutOfRangeException(nameof(offset), $"[0x{offset:X}, +{length}) is outside shared memory region {Id} of {Length} bytes");

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_ownsMemory && _host != null)
        {
            PageMemory.Free(_host);
        }
        _host = null;
    }
}
