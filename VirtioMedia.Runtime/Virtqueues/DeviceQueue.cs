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
public sealed class DeviceQueue
{
    private readonly GuestMemory _memory;
    private readonly SplitQueueLayout _layout;
    private readonly bool _eventIndex;
    private readonly object _usedGate = new();
    private readonly ObjectPool<DescriptorChain> _chainPool = new();
    private ushort _nextAvailable;
    private ushort _nextUsed;

    /// <summary>Serves a queue the driver laid out at <paramref name="layout"/>.</summary>
    /// <param name="memory">Guest memory holding the rings and the buffers.</param>
    /// <param name="layout">Where the rings are.</param>
    /// <param name="eventIndex">Whether VIRTIO_F_EVENT_IDX was negotiated.</param>
    /// <param name="nextAvailable">The available index to start from (vhost-user SET_VRING_BASE), normally 0.</param>
    public DeviceQueue(GuestMemory memory, SplitQueueLayout layout, bool eventIndex, ushort nextAvailable = 0)
    {
        layout.Validate();
        _ = memory.GetSpan(layout.DescriptorTable, SplitQueueLayout.DescriptorTableSize(layout.Size));
        _ = memory.GetSpan(layout.AvailableRing, SplitQueueLayout.AvailableRingSize(layout.Size));
        _ = memory.GetSpan(layout.UsedRing, SplitQueueLayout.UsedRingSize(layout.Size));
        _memory = memory;
        _layout = layout;
        _eventIndex = eventIndex;
        _nextAvailable = nextAvailable;
        _nextUsed = memory.ReadUInt16Acquire(layout.UsedIndex);
    }

    /// <summary>The ring layout.</summary>
    public SplitQueueLayout Layout => _layout;

    /// <summary>The next available-ring index the device will read (vhost-user GET_VRING_BASE).</summary>
    public ushort NextAvailable => _nextAvailable;

    /// <summary>
    /// Takes the next available chain. Returns false when the ring is empty. A chain that breaks the
    /// ring rules throws <see cref="VirtqueueException"/>; when its head was valid it has been returned to
    /// the driver as used with length 0 first, so nothing is lost.
    /// </summary>
    public bool TryPop(out DescriptorChain chain)
    {
        chain = null!;
        var available = _memory.ReadUInt16Acquire(_layout.AvailableIndex);
        var pending = (ushort)(available - _nextAvailable);
        if (pending == 0)
        {
            return false;
        }
        if (pending > _layout.Size)
        {
            throw new VirtqueueException($"avail.idx {available} is {pending} entries ahead of {_nextAvailable}, more than the queue size {_layout.Size}");
        }

        var head = _memory.Read<ushort>(_layout.AvailableEntry(_nextAvailable % _layout.Size));
        _nextAvailable++;
        if (_eventIndex)
        {
            // Ask to be kicked for the entry after this one.
            _memory.Write(_layout.AvailableEvent, _nextAvailable);
        }
        if (head >= _layout.Size)
        {
            throw new VirtqueueException($"available head {head} is outside a queue of {_layout.Size}");
        }

        var popped = _chainPool.TryRent(out var pooled) ? pooled : new DescriptorChain(4);
        popped.Reset(head);
        try
        {
            Walk(popped);
        }
        catch (Exception error) when (error is VirtqueueException or GuestMemoryException)
        {
            popped.Reset(head);
            Push(popped, 0);
            throw error as VirtqueueException ?? new VirtqueueException(error.Message);
        }
        chain = popped;
        return true;
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
        _chainPool.Return(chain);
        return notify;
    }

    /// <summary>Tells the driver whether kicks are wanted (used.flags, or avail_event with EVENT_IDX).
    /// Returns whether more chains arrived meanwhile, so a loop re-checks before sleeping.</summary>
    public bool SetNotification(bool enabled)
    {
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

    private void Walk(DescriptorChain chain)
    {
        // A chain visits each descriptor at most once: more steps than the table has entries is a loop.
        var budget = (int)_layout.Size;
        var table = _layout.DescriptorTable;
        var tableSize = (int)_layout.Size;
        var index = (int)chain.Head;
        var indirect = false;
        while (true)
        {
            if (--budget < 0)
            {
                throw new VirtqueueException($"chain {chain.Head} loops or is longer than its table");
            }
            var descriptor = _memory.Read<VirtqDescriptor>(table + SplitQueueLayout.DescriptorSize * (ulong)index);
            if ((descriptor.flags & VirtqDescriptor.VIRTQ_DESC_F_INDIRECT) != 0)
            {
                if (indirect)
                {
                    throw new VirtqueueException($"chain {chain.Head}: an indirect table points to another indirect table");
                }
                if ((descriptor.flags & VirtqDescriptor.VIRTQ_DESC_F_NEXT) != 0)
                {
                    throw new VirtqueueException($"chain {chain.Head}: a descriptor is both INDIRECT and NEXT");
                }
                if (descriptor.len == 0 || descriptor.len % SplitQueueLayout.DescriptorSize != 0 || descriptor.len / SplitQueueLayout.DescriptorSize > SplitQueueLayout.MaxSize)
                {
                    throw new VirtqueueException($"chain {chain.Head}: indirect table length {descriptor.len} is not a positive multiple of 16 within 32768 entries");
                }
                _ = _memory.GetSpan(descriptor.addr, descriptor.len);
                indirect = true;
                table = descriptor.addr;
                tableSize = (int)(descriptor.len / SplitQueueLayout.DescriptorSize);
                budget = tableSize;
                index = 0;
                continue;
            }

            if (!_memory.TryGetSpan(descriptor.addr, descriptor.len, out _))
            {
                throw new VirtqueueException($"chain {chain.Head}: buffer [0x{descriptor.addr:X}, +{descriptor.len}) is outside guest memory");
            }
            chain.Add(new ChainSegment(descriptor.addr, descriptor.len), (descriptor.flags & VirtqDescriptor.VIRTQ_DESC_F_WRITE) != 0);
            if ((descriptor.flags & VirtqDescriptor.VIRTQ_DESC_F_NEXT) == 0)
            {
                return;
            }
            if (descriptor.next >= tableSize)
            {
                throw new VirtqueueException($"chain {chain.Head}: next index {descriptor.next} is outside a table of {tableSize}");
            }
            index = descriptor.next;
        }
    }
}
