using System;
using System.Runtime.InteropServices;

namespace VirtioMedia.Runtime.Wire;

/// <summary>
/// Reads a descriptor chain as one byte stream: the chain is a list of segments of any sizes, and a value may
/// straddle segments. Reads are all-or-nothing: a read that the rest of the chain cannot satisfy consumes
/// nothing and returns false. Copying the reader saves its position. Structs are
/// copied in host order, so the codecs require a little-endian host, like the generated ABI.
/// </summary>
public ref struct ChainReader
{
    private readonly ReadOnlySpan<ReadOnlyMemory<byte>> _segments;
    private int _segment;
    private int _offset;
    private long _remaining;

    /// <summary>Reads <paramref name="segments"/> in order.</summary>
    public ChainReader(ReadOnlySpan<ReadOnlyMemory<byte>> segments)
    {
        _segments = segments;
        long total = 0;
        foreach (var segment in segments)
        {
            total += segment.Length;
        }
        _remaining = total;
    }

    /// <summary>The bytes left to read.</summary>
    public readonly long Remaining => _remaining;

    /// <summary>Copies the next <paramref name="destination"/>.Length bytes, or returns false and reads nothing.</summary>
    public bool TryRead(scoped Span<byte> destination)
    {
        if (destination.Length > _remaining)
        {
            return false;
        }
        while (!destination.IsEmpty)
        {
            var source = _segments[_segment].Span.Slice(_offset);
            if (source.IsEmpty)
            {
                _segment++;
                _offset = 0;
                continue;
            }
            var count = Math.Min(source.Length, destination.Length);
            source.Slice(0, count).CopyTo(destination);
            destination = destination.Slice(count);
            _offset += count;
            _remaining -= count;
        }
        return true;
    }

    /// <summary>Reads a blittable struct in its wire (little-endian) layout, or returns false and reads nothing.</summary>
    public bool TryRead<T>(out T value)
        where T : unmanaged
    {
        value = default;
        return TryRead(MemoryMarshal.AsBytes(new Span<T>(ref value)));
    }

    /// <summary>Skips <paramref name="count"/> bytes, or returns false and skips nothing.</summary>
    public bool TrySkip(long count)
    {
        if (count < 0 || count > _remaining)
        {
            return false;
        }
        while (count > 0)
        {
            var available = _segments[_segment].Length - _offset;
            if (available == 0)
            {
                _segment++;
                _offset = 0;
                continue;
            }
            var step = (int)Math.Min(available, count);
            _offset += step;
            _remaining -= step;
            count -= step;
        }
        return true;
    }
}
