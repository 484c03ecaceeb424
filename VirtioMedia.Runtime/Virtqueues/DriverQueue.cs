using System;
using System.Threading;
using VirtioMedia.Runtime.Memory;

namespace VirtioMedia.Runtime.Virtqueues;

/// <summary>
/// The driver side of a split virtqueue: makes chains available and reaps them from the used ring.
/// The device is not trusted: every used entry is checked against what is actually in flight.
/// Thread-safe: any thread may add or reap.
/// </summary>
/// <typeparam name="TToken">What the caller attaches to a chain to recognise it when it comes back.</typeparam>
public sealed class DriverQueue<TToken>
{
    private readonly GuestMemory _memory;
    private readonly SplitQueueLayout _layout;
    private readonly bool _eventIndex;
    private readonly object _gate = new();
    private readonly TToken?[] _tokens;
    private readonly ushort[] _chainLengths;
    private readonly uint[] _writableLengths;
    // The free list's links, kept here and only copied into the shared table: the device can rewrite every
    // descriptor's next field, and must not be able to corrupt which descriptors the driver believes free (Linux's
    // vring keeps the same private copy, desc_extra[].next, for this reason).
    private readonly ushort[] _next;
    private ushort _freeHead;
    private int _freeCount;
    private int _chainsInFlight;
    private ushort _nextAvailable;
    private ushort _lastUsed;
    private ushort _availableAtLastCheck;

    /// <summary>Initialises empty rings at <paramref name="layout"/> in <paramref name="memory"/>.</summary>
    public DriverQueue(GuestMemory memory, SplitQueueLayout layout, bool eventIndex)
    {
        layout.Validate();
        memory.GetSpan(layout.DescriptorTable, SplitQueueLayout.DescriptorTableSize(layout.Size)).Clear();
        memory.GetSpan(layout.AvailableRing, SplitQueueLayout.AvailableRingSize(layout.Size)).Clear();
        memory.GetSpan(layout.UsedRing, SplitQueueLayout.UsedRingSize(layout.Size)).Clear();
        _memory = memory;
        _layout = layout;
        _eventIndex = eventIndex;
        _tokens = new TToken?[layout.Size];
        _chainLengths = new ushort[layout.Size];
        _writableLengths = new uint[layout.Size];
        _next = new ushort[layout.Size];
        for (var i = 0; i < layout.Size; i++)
        {
            _next[i] = (ushort)((i + 1) % layout.Size);
        }
        _freeHead = 0;
        _freeCount = layout.Size;
    }

    /// <summary>The ring layout.</summary>
    public SplitQueueLayout Layout => _layout;

    /// <summary>How many descriptors are free.</summary>
    public int FreeDescriptors
    {
        get
        {
            lock (_gate)
            {
                return _freeCount;
            }
        }
    }

    /// <summary>
    /// Makes a chain of device-readable then device-writable buffers available. Returns false when the
    /// table has too few free descriptors (reap used chains first).
    /// </summary>
    /// <param name="readable">The device-readable buffers, in order.</param>
    /// <param name="writable">The device-writable buffers, in order.</param>
    /// <param name="token">Returned by <see cref="TryTakeUsed"/> when the device is done with the chain.</param>
    /// <param name="kick">Whether the device wants a notification for this chain.</param>
    public bool TryAdd(ReadOnlySpan<ChainSegment> readable, ReadOnlySpan<ChainSegment> writable, TToken token, out bool kick)
    {
        kick = false;
        var count = readable.Length + writable.Length;
        if (count == 0)
        {
            throw new ArgumentException("a chain needs at least one buffer");
        }
        lock (_gate)
        {
            if (count > _freeCount)
            {
                return false;
            }
            var head = _freeHead;
            var index = head;
            uint writableLength = 0;
            for (var i = 0; i < count; i++)
            {
                var isWritable = i >= readable.Length;
                var segment = isWritable ? writable[i - readable.Length] : readable[i];
                var address = _layout.Descriptor(index);
                var next = _next[index];
                _memory.Write(address, new VirtqDescriptor
                {
                    addr = segment.Address,
                    len = segment.Length,
                    flags = (ushort)((isWritable ? VirtqDescriptor.VIRTQ_DESC_F_WRITE : 0) | (i + 1 < count ? VirtqDescriptor.VIRTQ_DESC_F_NEXT : 0)),
                    next = i + 1 < count ? next : (ushort)0,
                });
                if (isWritable)
                {
                    writableLength = checked(writableLength + segment.Length);
                }
                if (i + 1 < count)
                {
                    index = next;
                }
                else
                {
                    _freeHead = next;
                }
            }
            _freeCount -= count;
            _chainsInFlight++;
            _tokens[head] = token;
            _chainLengths[head] = (ushort)count;
            _writableLengths[head] = writableLength;

            _memory.Write(_layout.AvailableEntry(_nextAvailable % _layout.Size), head);
            _nextAvailable++;
            _memory.WriteUInt16Release(_layout.AvailableIndex, _nextAvailable);
            Interlocked.MemoryBarrier();
            // The event-index window is what was added since the last check, kicked or not (Linux's
            // virtqueue_kick_prepare_split counts num_added from its previous call). Measured from the last kick
            // instead, the window grows with every chain the device takes without a kick, and after 65,536 of them
            // its 16-bit width wraps to 0: no kick at all, even for a device that is asleep.
            kick = _eventIndex
                ? VirtqRingFlags.NeedEvent(_memory.Read<ushort>(_layout.AvailableEvent), _nextAvailable, _availableAtLastCheck)
                : (_memory.ReadUInt16Acquire(_layout.UsedFlags) & VirtqRingFlags.VIRTQ_USED_F_NO_NOTIFY) == 0;
            _availableAtLastCheck = _nextAvailable;
            return true;
        }
    }

    /// <summary>
    /// Takes the next used chain: its token and the length the device says it wrote. Throws
    /// <see cref="VirtqueueException"/> when the device returns a chain that is not in flight or claims
    /// more bytes than the chain's writable buffers hold.
    /// </summary>
    public bool TryTakeUsed(out TToken token, out uint written)
    {
        token = default!;
        written = 0;
        lock (_gate)
        {
            var used = _memory.ReadUInt16Acquire(_layout.UsedIndex);
            if (used == _lastUsed)
            {
                // No more means the caller may sleep until an interrupt: check once more behind a full fence, so the
                // request for one (used_event, written after the last take, or avail.flags) is visible before used.idx
                // is read again (the mirror of DeviceQueue.Pop's check). Once per sleep, not per chain.
                Interlocked.MemoryBarrier();
                used = _memory.ReadUInt16Acquire(_layout.UsedIndex);
                if (used == _lastUsed)
                {
                    return false;
                }
            }
            if ((ushort)(used - _lastUsed) > _chainsInFlight)
            {
                throw new VirtqueueException($"used.idx {used} is {(ushort)(used - _lastUsed)} ahead of {_lastUsed}, but only {_chainsInFlight} chains are in flight");
            }
            var slot = _lastUsed % _layout.Size;
            var id = _memory.Read<uint>(_layout.UsedEntry(slot));
            var length = _memory.Read<uint>(_layout.UsedEntry(slot) + 4);
            if (id >= _layout.Size || _chainLengths[id] == 0)
            {
                throw new VirtqueueException($"the device returned chain {id}, which is not in flight");
            }
            if (length > _writableLengths[id])
            {
                throw new VirtqueueException($"the device claims {length} bytes written into chain {id}, which has {_writableLengths[id]} writable bytes");
            }
            _lastUsed++;
            if (_eventIndex)
            {
                _memory.Write(_layout.UsedEvent, _lastUsed);
            }

            // Return the chain's descriptors to the free list, walking it by our own records of its length and
            // links, never by the flags or next fields in shared memory the device could have altered.
            var last = (ushort)id;
            for (var i = 1; i < _chainLengths[id]; i++)
            {
                last = _next[last];
            }
            _next[last] = _freeHead;
            _freeHead = (ushort)id;
            _freeCount += _chainLengths[id];
            _chainsInFlight--;
            _chainLengths[id] = 0;
            token = _tokens[id]!;
            _tokens[id] = default;
            written = length;
            return true;
        }
    }

    /// <summary>Whether the driver wants interrupts for used chains (avail.flags, or used_event with EVENT_IDX).</summary>
    public void SetInterrupts(bool enabled)
    {
        lock (_gate)
        {
            if (_eventIndex)
            {
                _memory.Write(_layout.UsedEvent, _lastUsed);
            }
            else
            {
                _memory.WriteUInt16Release(_layout.AvailableFlags, enabled ? (ushort)0 : VirtqRingFlags.VIRTQ_AVAIL_F_NO_INTERRUPT);
            }
        }
    }
}
