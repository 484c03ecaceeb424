using System;
using System.Collections.Generic;

namespace VirtioMedia.Runtime.Virtqueues;

/// <summary>
/// A chain popped by the device: its head and its buffers, device-readable ones first, then
/// device-writable ones (the order the specification requires of the driver and the device checks).
/// </summary>
public sealed class DescriptorChain
{
    /// <summary>Buffers of each kind a pooled chain keeps room for; a longer chain gives its extra room back when returned.</summary>
    internal const int RetainedCapacity = 16;

    private readonly List<ChainSegment> _readable;
    private readonly List<ChainSegment> _writable;

    internal DescriptorChain(int capacity)
    {
        _readable = new List<ChainSegment>(capacity);
        _writable = new List<ChainSegment>(capacity);
    }

    /// <summary>The head descriptor index: what goes back in the used ring.</summary>
    public ushort Head { get; private set; }

    /// <summary>The device-readable buffers, in chain order.</summary>
    public IReadOnlyList<ChainSegment> Readable => _readable;

    /// <summary>The device-writable buffers, in chain order.</summary>
    public IReadOnlyList<ChainSegment> Writable => _writable;

    /// <summary>The total size of the device-readable buffers.</summary>
    public ulong ReadableLength { get; private set; }

    /// <summary>The total size of the device-writable buffers.</summary>
    public ulong WritableLength { get; private set; }

    internal void Reset(ushort head)
    {
        Head = head;
        _readable.Clear();
        _writable.Clear();
        ReadableLength = 0;
        WritableLength = 0;
    }

    /// <summary>How many buffers the chain has so far.</summary>
    internal int Count => _readable.Count + _writable.Count;

    /// <summary>Appends a buffer; false when a device-readable one would follow a device-writable one.</summary>
    internal bool TryAdd(ChainSegment segment, bool writable)
    {
        if (writable)
        {
            _writable.Add(segment);
            WritableLength += segment.Length;
            return true;
        }
        if (_writable.Count > 0)
        {
            return false;
        }
        _readable.Add(segment);
        ReadableLength += segment.Length;
        return true;
    }

    /// <summary>Forgets the buffers and gives back the room a long chain made the lists grow to, so a pooled chain
    /// holds at most <see cref="RetainedCapacity"/> buffers of each kind whatever a driver once sent.</summary>
    internal void Release()
    {
        Reset(0);
        if (_readable.Capacity > RetainedCapacity)
        {
            _readable.Capacity = RetainedCapacity;
        }
        if (_writable.Capacity > RetainedCapacity)
        {
            _writable.Capacity = RetainedCapacity;
        }
    }
}
