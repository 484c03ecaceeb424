using System;
using System.Runtime.InteropServices;

namespace VirtioMedia.Runtime.Wire;

/// <summary>
/// Writes a descriptor chain as one byte stream over segments of any sizes; a value may straddle segments.
/// Writes are all-or-nothing: a write the rest of the chain cannot hold writes nothing and returns false.
/// </summary>
public ref struct ChainWriter
{
    private readonly ReadOnlySpan<Memory<byte>> _segments;
    private int _segment;
    private int _offset;
    private long _remaining;

    /// <summary>Writes into <paramref name="segments"/> in order.</summary>
    public ChainWriter(ReadOnlySpan<Memory<byte>> segments)
    {
        _segments = segments;
        long total = 0;
        foreach (var segment in segments)
        {
            total += segment.Length;
        }
        _remaining = total;
    }

    /// <summary>The room left.</summary>
    public readonly long Remaining => _remaining;

    /// <summary>The bytes written so far (what a device reports as the used length).</summary>
    public long Written { get; private set; }

    /// <summary>Copies <paramref name="source"/>, or returns false and writes nothing.</summary>
    public bool TryWrite(scoped ReadOnlySpan<byte> source)
    {
        if (source.Length > _remaining)
        {
            return false;
        }
        while (!source.IsEmpty)
        {
            var destination = _segments[_segment].Span.Slice(_offset);
            if (destination.IsEmpty)
            {
                _segment++;
                _offset = 0;
                continue;
            }
            var count = Math.Min(source.Length, destination.Length);
            source.Slice(0, count).CopyTo(destination);
            source = source.Slice(count);
            _offset += count;
            _remaining -= count;
            Written += count;
        }
        return true;
    }

    /// <summary>Writes a blittable struct in its wire (little-endian) layout, or returns false and writes nothing.</summary>
    public bool TryWrite<T>(in T value)
        where T : unmanaged
        => TryWrite(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));
}
