using System;
using System.Threading;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// A device-provisioned (MMAP) buffer in shared memory region 0. Its memory stays reserved while anyone holds
/// it: the session that allocated it (until <see cref="MmapAllocator.Release"/>), every driver mapping (until
/// MUNMAP) and its virtio object export (withdrawn when the session allocates again or closes).
/// </summary>
public sealed class MmapBuffer
{
    private readonly SharedMemoryRegion _region;
    private int _references = 1;
    private int _mappings;
    private int _released;
    private VirtioObjectRegistry? _exportedTo;
    private Guid _exportUuid;

    internal MmapBuffer(SharedMemoryRegion region, DeviceSession owner, ulong offset, ulong length)
    {
        _region = region;
        Owner = owner;
        Offset = offset;
        Length = length;
    }

    /// <summary>The session that allocated the buffer.</summary>
    public DeviceSession Owner { get; }

    /// <summary>The offset in shared memory region 0: also the <c>mem_offset</c> the driver passes to MMAP.</summary>
    public ulong Offset { get; }

    /// <summary>The <c>mem_offset</c> / <c>m.offset</c> value to report in QUERYBUF.</summary>
    public uint MemOffset => (uint)Offset;

    /// <summary>The buffer length: what MMAP answers as <c>len</c>.</summary>
    public ulong Length { get; }

    /// <summary>Whether the allocating session has released it.</summary>
    public bool IsReleased => Volatile.Read(ref _released) != 0;

    /// <summary>How many driver mappings are live.</summary>
    public int Mappings => Volatile.Read(ref _mappings);

    /// <summary>The buffer's bytes; throws <see cref="ObjectDisposedException"/> once its memory is freed.</summary>
    public Span<byte> Span => Volatile.Read(ref _references) > 0 ? _region.GetSpan(Offset, Length) : throw new ObjectDisposedException(nameof(MmapBuffer));

    /// <summary>The buffer's bytes, or false once its memory is freed or its region has ended.</summary>
    public bool TryGetSpan(out Span<byte> span)
    {
        span = default;
        return Volatile.Read(ref _references) > 0 && _region.TryGetSpan(Offset, Length, out span);
    }

    /// <summary>A lease on the shared memory region the buffer lives in, for an access outside a command.</summary>
    public SharedMemoryLease Lease() => _region.Lease();

    /// <summary>The UUID it is exported under, or <see cref="Guid.Empty"/>.</summary>
    public Guid ExportUuid
    {
        get
        {
            lock (ExportGate)
            {
                return _exportUuid;
            }
        }
    }

    /// <summary>Orders an export against the owner's release.</summary>
    internal object ExportGate { get; } = new();

    /// <summary>Marks the owner's release; true the first time only.</summary>
    internal bool MarkReleased()
    {
        lock (ExportGate)
        {
            return Interlocked.Exchange(ref _released, 1) == 0;
        }
    }

    /// <summary>Takes its export away, to withdraw it; false when it has none.</summary>
    internal bool TakeExport(out VirtioObjectRegistry? registry, out Guid uuid)
    {
        lock (ExportGate)
        {
            registry = _exportedTo;
            uuid = _exportUuid;
            _exportedTo = null;
            _exportUuid = Guid.Empty;
            return registry is not null;
        }
    }

    /// <summary>The registry and UUID of its export, when it has one (called under <see cref="ExportGate"/>).</summary>
    internal bool TryGetExport(out VirtioObjectRegistry? registry, out Guid uuid)
    {
        registry = _exportedTo;
        uuid = _exportUuid;
        return registry is not null;
    }

    /// <summary>Records its export, or none (called under <see cref="ExportGate"/>).</summary>
    internal void SetExport(VirtioObjectRegistry? registry, Guid uuid)
    {
        _exportedTo = registry;
        _exportUuid = uuid;
    }

    internal bool TryAddReference()
    {
        while (true)
        {
            var current = Volatile.Read(ref _references);
            if (current == 0)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _references, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    /// <summary>Returns true when this was the last reference.</summary>
    internal bool RemoveReference() => Interlocked.Decrement(ref _references) == 0;

    internal void AddMapping() => Interlocked.Increment(ref _mappings);

    internal bool TryRemoveMapping()
    {
        while (true)
        {
            var current = Volatile.Read(ref _mappings);
            if (current == 0)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _mappings, current - 1, current) == current)
            {
                return true;
            }
        }
    }
}
