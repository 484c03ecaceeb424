using System;
using System.Collections.Generic;

namespace VirtioMedia.Runtime.Virtqueues;

/// <summary>
/// A chain popped by the device: its head and its buffers, device-readable ones first, then
/// device-writable ones (the order the specification requires of the driver and the device checks).
/// </summary>
public sealed class DescriptorChain
{
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

    internal void Add(ChainSegment segment, bool writable)
    {
        if (writable)
        {
            _writable.Add(segment);
            WritableLength += segment.Length;
        }
        else
        {
            if (_writable.Count > 0)
            {
                throw new VirtqueueException($"chain {Head}: a device-readable buffer follows a device-writable one");
            }
            _readable.Add(segment);
            ReadableLength += segment.Length;
        }
    }
}
