using System;
using System.Threading;
using VirtioMedia.Runtime.Memory;

namespace VirtioMedia.Runtime.Transport;

/// <summary>
/// A virtio shared memory region (virtio-media uses region 0 for MMAP buffers): memory the device owns
/// and the driver maps, addressed by offset. In-process it is native memory both endpoints see; over
/// vhost-user it is a memfd the backend maps and hands to the frontend with SHMEM_MAP. A transport
/// without the region (a VMM that does not negotiate vhost-user SHMEM, or none configured) has one of
/// <see cref="Length"/> 0 that refuses every access (<see cref="None"/>).
/// </summary>
/// <remarks>
/// As guest memory (<see cref="GuestMemory"/>), whoever touches the region outside a command (a device rendering
/// into an MMAP buffer on its own thread) holds a <see cref="SharedMemoryLease"/> while it may use the spans it
/// got: <see cref="Dispose"/> ends the region at once for new accesses and frees or unmaps its memory only when
/// the last lease is returned.
/// </remarks>
public sealed unsafe class SharedMemoryRegion : IDisposable
{
    // Set in _leases by Dispose: accesses after it find no memory; the count below it is the leases still out.
    private const int Ended = int.MinValue / 2;

    private readonly bool _ownsMemory;
    private readonly Action? _released;
    private byte* _host;
    private volatile bool _ended;
    private int _leases;
    private int _freed;

    /// <summary>Wraps host memory the caller keeps mapped for the region's lifetime.</summary>
    public SharedMemoryRegion(byte id, IntPtr host, ulong length)
        : this(id, host, length, released: null)
    {
    }

    /// <summary>Wraps host memory someone else owns; <paramref name="released"/> (the unmapping) runs once the region
    /// is disposed and its last lease returned.</summary>
    public SharedMemoryRegion(byte id, IntPtr host, ulong length, Action? released)
    {
        _released = released;
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
        if (_host == null || _ended || offset > Length || length > Length - offset || length > int.MaxValue)
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

    /// <summary>Takes a lease: until it is disposed, the region's memory stays mapped even if the region is disposed.</summary>
    public SharedMemoryLease Lease() => Interlocked.Increment(ref _leases) > 0 ? new SharedMemoryLease(this) : ReturnAndRefuse();

    private SharedMemoryLease ReturnAndRefuse()
    {
        // Already ended: this lease holds nothing, and later accesses find no memory.
        Return();
        return default;
    }

    internal void Return()
    {
        if (Interlocked.Decrement(ref _leases) == Ended)
        {
            Free();
        }
    }

    /// <summary>Ends the region: later accesses are refused, and the memory is freed (or its release action run) once
    /// no lease is left.</summary>
    public void Dispose()
    {
        if (_ended)
        {
            return;
        }
        _ended = true;
        if (Interlocked.Add(ref _leases, Ended) == Ended)
        {
            Free();
        }
    }

    private void Free()
    {
        // A lease refused after the end returns through the same count, so the end can be reached twice.
        if (Interlocked.Exchange(ref _freed, 1) != 0)
        {
            return;
        }
        if (_ownsMemory && _host != null)
        {
            PageMemory.Free(_host);
        }
        _host = null;
        _released?.Invoke();
    }
}

/// <summary>A lease on a <see cref="SharedMemoryRegion"/> (see its remarks); a default lease holds nothing.</summary>
public readonly struct SharedMemoryLease : IDisposable
{
    private readonly SharedMemoryRegion? _region;

    internal SharedMemoryLease(SharedMemoryRegion region) => _region = region;

    /// <summary>Returns the lease.</summary>
    public void Dispose() => _region?.Return();
}
