using System;
using System.Threading;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Pooling;

namespace VirtioMedia.Runtime.Virtqueues;

/// <summary>
/// The device side of a split virtqueue: pops the chains the driver made available and returns them
/// through the used ring. Popping is for one thread (the queue's loop); returning may happen from any
/// thread, so commands can complete out of order and concurrently.
/// </summary>
/// <remarks>
/// A driver that corrupts the ring (avail.idx more than the queue size ahead, a head or next index out of range,
/// a loop, a chain past <see cref="DeviceQueueLimits"/>, a buffer outside guest memory, an indirect descriptor
/// when VIRTIO_F_INDIRECT_DESC was not negotiated) breaks the queue: <see cref="Pop"/> answers
/// <see cref="PopResult.RingBroken"/> once, and from then on <see cref="PopResult.NeedsReset"/> without reading
/// the ring, until the queue is replaced by a new one (a device reset). This is the state virtio reports with
/// DEVICE_NEEDS_RESET (virtio 1.2, 2.1 "Device Status Field"); it keeps a corrupt ring from being re-read in a loop.
/// Chains popped before the break may still be returned.
/// </remarks>
public sealed class DeviceQueue
{
    private readonly GuestMemory _memory;
    private readonly SplitQueueLayout _layout;
    private readonly bool _eventIndex;
    private readonly bool _indirectDescriptors;
    private readonly DeviceQueueLimits _limits;
    private readonly object _usedGate = new();
    private readonly ObjectPool<DescriptorChain> _chainPool = new();
    private ushort _nextAvailable;
    private ushort _nextUsed;
    private VirtqueueException? _error;

    /// <summary>Serves a queue the driver laid out at <paramref name="layout"/>.</summary>
    /// <param name="memory">Guest memory holding the rings and the buffers.</param>
    /// <param name="layout">Where the rings are.</param>
    /// <param name="eventIndex">Whether VIRTIO_F_EVENT_IDX was negotiated.</param>
    /// <param name="nextAvailable">The available index to start from (vhost-user SET_VRING_BASE), normally 0.</param>
    /// <param name="indirectDescriptors">Whether VIRTIO_F_INDIRECT_DESC was negotiated. When it was not (the
    /// default), a descriptor flagged INDIRECT breaks the queue instead of being followed.</param>
    /// <param name="limits">Bounds on one chain; <see cref="DeviceQueueLimits.Default"/> when null.</param>
    public DeviceQueue(GuestMemory memory, SplitQueueLayout layout, bool eventIndex, ushort nextAvailable = 0, bool indirectDescriptors = false, DeviceQueueLimits? limits = null)
    {
        layout.Validate();
        var chosen = limits ?? DeviceQueueLimits.Default;
        chosen.Validate();
        _ = memory.GetSpan(layout.DescriptorTable, SplitQueueLayout.DescriptorTableSize(layout.Size));
        _ = memory.GetSpan(layout.AvailableRing, SplitQueueLayout.AvailableRingSize(layout.Size));
        _ = memory.GetSpan(layout.UsedRing, SplitQueueLayout.UsedRingSize(layout.Size));
        _memory = memory;
        _layout = layout;
        _eventIndex = eventIndex;
        _indirectDescriptors = indirectDescriptors;
        _limits = chosen;
        _nextAvailable = nextAvailable;
        _nextUsed = memory.ReadUInt16Acquire(layout.UsedIndex);
    }

    /// <summary>The ring layout.</summary>
    public SplitQueueLayout Layout => _layout;

    /// <summary>Whether VIRTIO_F_INDIRECT_DESC was negotiated (indirect tables are followed).</summary>
    public bool IndirectDescriptors => _indirectDescriptors;

    /// <summary>The bounds on one chain.</summary>
    public DeviceQueueLimits Limits => _limits;

    /// <summary>The next available-ring index the device will read (vhost-user GET_VRING_BASE).</summary>
    public ushort NextAvailable => Volatile.Read(ref _nextAvailable);

    /// <summary>The next used-ring index the device will write: chains returned so far, modulo 2^16. Kept here, not
    /// read back from used.idx, which the driver can overwrite (even through a buffer it hands the device).</summary>
    public ushort NextUsed => Volatile.Read(ref _nextUsed);

    /// <summary>Whether the driver corrupted the ring: the queue serves nothing until it is reset (DEVICE_NEEDS_RESET).</summary>
    public bool NeedsReset => Volatile.Read(ref _error) is not null;

    /// <summary>The violation that broke the queue, or null while it is healthy.</summary>
    public VirtqueueException? Error => Volatile.Read(ref _error);

    /// <summary>
    /// Takes the next available chain. Returns false when the ring is empty or the queue is broken
    /// (<see cref="NeedsReset"/>); never throws for what the driver wrote. <see cref="Pop"/> tells the two apart.
    /// </summary>
    public bool TryPop(out DescriptorChain chain) => Pop(out chain) == PopResult.Chain;

    /// <summary>
    /// Takes the next available chain, or says why there is none: the ring is empty, or the driver corrupted it
    /// (<see cref="PopResult.RingBroken"/> the first time, <see cref="PopResult.NeedsReset"/> after). Never throws
    /// for what the driver wrote, and reads nothing once the queue is broken, so a caller looping on it cannot spin.
    /// </summary>
    public PopResult Pop(out DescriptorChain chain)
    {
        chain = null!;
        if (Volatile.Read(ref _error) is not null)
        {
            return PopResult.NeedsReset;
        }
        var available = _memory.ReadUInt16Acquire(_layout.AvailableIndex);
        var pending = (ushort)(available - _nextAvailable);
        if (pending == 0)
        {
            // Empty means the caller may sleep until a kick, so check once more behind a full fence. The request for
            // a kick (avail_event, written after the last pop, or used.flags) is a store and avail.idx a load: without
            // the fence the load can be served before the store is visible, the driver then reads the old
            // avail_event, sees no kick wanted for the chain it just added, and the device sleeps with it in the ring
            // (virtio 1.2, 2.7.10 and 2.7.13.3: either side fences between publishing its index and reading the
            // other's suppression state). Once per sleep, not per chain.
            Interlocked.MemoryBarrier();
            available = _memory.ReadUInt16Acquire(_layout.AvailableIndex);
            pending = (ushort)(available - _nextAvailable);
            if (pending == 0)
            {
                return PopResult.Empty;
            }
        }
        if (pending > _layout.Size)
        {
            return Break($"avail.idx {available} is {pending} entries ahead of {_nextAvailable}, more than the queue size {_layout.Size}");
        }

        var head = _memory.Read<ushort>(_layout.AvailableEntry(_nextAvailable % _layout.Size));
        if (head >= _layout.Size)
        {
            return Break($"available head {head} is outside a queue of {_layout.Size}");
        }

        var popped = _chainPool.TryRent(out var pooled) ? pooled : new DescriptorChain(4);
        popped.Reset(head);
        if (Walk(popped) is { } violation)
        {
            popped.Release();
            _chainPool.Return(popped);
            return Break(violation);
        }
        _nextAvailable++;
        if (_eventIndex)
        {
            // Ask to be kicked for the entry after this one.
            _memory.Write(_layout.AvailableEvent, _nextAvailable);
        }
        chain = popped;
        return PopResult.Chain;
    }

    /// <summary>
    /// Returns a chain to the driver with the number of bytes written into its device-writable buffers.
    /// Returns whether the driver wants a notification now.
    /// </summary>
    public bool Push(DescriptorChain chain, uint written)
    {
        if (written > chain.WritableLength)
        {
            throw new ArgumentOutOfRangeException(nameof(written), written, $"chain {chain.Head} has only {chain.WritableLength} writable bytes");
        }
        bool notify;
        lock (_usedGate)
        {
            var slot = _nextUsed % _layout.Size;
            _memory.Write(_layout.UsedEntry(slot), (uint)chain.Head);
            _memory.Write(_layout.UsedEntry(slot) + 4, written);
            var old = _nextUsed;
            _nextUsed++;
            _memory.WriteUInt16Release(_layout.UsedIndex, _nextUsed);
            // The driver's suppression state must be read after the index is published (full fence), or
            // an interrupt the driver asked for in between could be missed.
            Interlocked.MemoryBarrier();
            notify = _eventIndex
                ? VirtqRingFlags.NeedEvent(_memory.Read<ushort>(_layout.UsedEvent), _nextUsed, old)
                : (_memory.ReadUInt16Acquire(_layout.AvailableFlags) & VirtqRingFlags.VIRTQ_AVAIL_F_NO_INTERRUPT) == 0;
        }
        chain.Release();
        _chainPool.Return(chain);
        return notify;
    }

    /// <summary>Tells the driver whether kicks are wanted (used.flags, or avail_event with EVENT_IDX).
    /// Returns whether more chains arrived meanwhile, so a loop re-checks before sleeping; never on a broken queue,
    /// which serves nothing whatever its index says.</summary>
    public bool SetNotification(bool enabled)
    {
        if (NeedsReset)
        {
            return false;
        }
        if (_eventIndex)
        {
            _memory.Write(_layout.AvailableEvent, _nextAvailable);
        }
        else
        {
            _memory.WriteUInt16Release(_layout.UsedFlags, enabled ? (ushort)0 : VirtqRingFlags.VIRTQ_USED_F_NO_NOTIFY);
        }
        Interlocked.MemoryBarrier();
        return _memory.ReadUInt16Acquire(_layout.AvailableIndex) != _nextAvailable;
    }

    private PopResult Break(string violation)
    {
        Interlocked.CompareExchange(ref _error, new VirtqueueException(violation), null);
        return PopResult.RingBroken;
    }

    /// <summary>Follows the chain from its head; returns what is wrong with it, or null when it is sound.</summary>
    private string? Walk(DescriptorChain chain)
    {
        // A chain visits each descriptor of a table at most once: more steps than the table has entries is a loop.
        var budget = (int)_layout.Size;
        var table = _layout.DescriptorTable;
        var tableSize = (int)_layout.Size;
        var index = (int)chain.Head;
        var indirect = false;
        while (true)
        {
            if (--budget < 0)
            {
                return $"chain {chain.Head} loops or is longer than its table of {tableSize}";
            }
            var descriptor = _memory.Read<VirtqDescriptor>(table + SplitQueueLayout.DescriptorSize * (ulong)index);
            if ((descriptor.flags & VirtqDescriptor.VIRTQ_DESC_F_INDIRECT) != 0)
            {
                if (!_indirectDescriptors)
                {
                    return $"chain {chain.Head}: descriptor {index} is INDIRECT, but VIRTIO_F_INDIRECT_DESC was not negotiated";
                }
                if (indirect)
                {
                    return $"chain {chain.Head}: an indirect table points to another indirect table";
                }
                if ((descriptor.flags & VirtqDescriptor.VIRTQ_DESC_F_NEXT) != 0)
                {
                    return $"chain {chain.Head}: a descriptor is both INDIRECT and NEXT";
                }
                if (descriptor.len == 0 || descriptor.len % SplitQueueLayout.DescriptorSize != 0 || descriptor.len / SplitQueueLayout.DescriptorSize > (uint)_limits.MaxIndirectTableEntries)
                {
                    return $"chain {chain.Head}: indirect table length {descriptor.len} is not a positive multiple of 16 within {_limits.MaxIndirectTableEntries} entries";
                }
                if (!_memory.TryGetSpan(descriptor.addr, descriptor.len, out _))
                {
                    return $"chain {chain.Head}: indirect table [0x{descriptor.addr:X}, +{descriptor.len}) is outside guest memory";
                }
                indirect = true;
                table = descriptor.addr;
                tableSize = (int)(descriptor.len / SplitQueueLayout.DescriptorSize);
                budget = tableSize;
                index = 0;
                continue;
            }

            if (!_memory.TryGetSpan(descriptor.addr, descriptor.len, out _))
            {
                return $"chain {chain.Head}: buffer [0x{descriptor.addr:X}, +{descriptor.len}) is outside guest memory";
            }
            if (chain.Count >= _limits.MaxChainDescriptors)
            {
                return $"chain {chain.Head} has more than {_limits.MaxChainDescriptors} buffers";
            }
            if (!chain.TryAdd(new ChainSegment(descriptor.addr, descriptor.len), (descriptor.flags & VirtqDescriptor.VIRTQ_DESC_F_WRITE) != 0))
            {
                return $"chain {chain.Head}: a device-readable buffer follows a device-writable one";
            }
            if ((descriptor.flags & VirtqDescriptor.VIRTQ_DESC_F_NEXT) == 0)
            {
                return null;
            }
            if (descriptor.next >= tableSize)
            {
                return $"chain {chain.Head}: next index {descriptor.next} is outside a table of {tableSize}";
            }
            index = descriptor.next;
        }
    }
}
