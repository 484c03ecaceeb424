using System;
using System.Threading;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// A device-provisioned (MMAP) buffer in shared memory region 0. Its memory stays reserved while anyone holds
/// it: the session that allocated it (until <see cref="MmapAllocator.Release"/>), every driver mapping (until
/// MUNMAP) and every virtio object export.
/// </summary>
public sealed class MmapBuffer
{
    private readonly SharedMemoryRegion _region;
    private int _references = 1;
    private int _mappings;
    private int _released;

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

    /// <summary>Marks the owner's release; true the first time only.</summary>
    internal bool MarkReleased() => Interlocked.Exchange(ref _released, 1) == 0;

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
