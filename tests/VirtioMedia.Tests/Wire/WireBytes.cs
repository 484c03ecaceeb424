using System;
using System.Collections.Generic;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Tests.Wire;

/// <summary>Builds expected wire bytes field by field, little-endian, independently of the codecs.</summary>
internal sealed class LeBytes
{
    private readonly List<byte> _bytes = new();

    public int Length => _bytes.Count;

    public LeBytes U32(uint value)
    {
        for (var i = 0; i < 4; i++)
        {
            _bytes.Add((byte)(value >> (8 * i)));
        }
        return this;
    }

    public LeBytes U64(ulong value)
    {
        for (var i = 0; i < 8; i++)
        {
            _bytes.Add((byte)(value >> (8 * i)));
        }
        return this;
    }

    public LeBytes Zeros(int count)
    {
        for (var i = 0; i < count; i++)
        {
            _bytes.Add(0);
        }
        return this;
    }

    public LeBytes Raw(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    /// <summary>Pads with zeros up to an absolute length (the end of a struct).</summary>
    public LeBytes PadTo(int length)
    {
        if (_bytes.Count > length)
        {
            throw new InvalidOperationException($"already {_bytes.Count} bytes, past {length}");
        }
        return Zeros(length - _bytes.Count);
    }

    public byte[] ToArray() => _bytes.ToArray();
}

internal delegate WireResult ChainWrite(ref ChainWriter writer);

internal delegate WireResult ChainRead(ref ChainReader reader);

/// <summary>Descriptor chains cut into segments.</summary>
internal static class Chains
{
    /// <summary>Cuts <paramref name="data"/> at the given offsets.</summary>
    public static ReadOnlyMemory<byte>[] Split(byte[] data, params int[] cuts)
    {
        var segments = new List<ReadOnlyMemory<byte>>();
        var start = 0;
        foreach (var cut in cuts)
        {
            segments.Add(data.AsMemory(start, cut - start));
            start = cut;
        }
        segments.Add(data.AsMemory(start));
        return segments.ToArray();
    }

    /// <summary>Cuts <paramref name="data"/> into random segments, empty ones included.</summary>
    public static ReadOnlyMemory<byte>[] RandomSplit(byte[] data, Random random)
    {
        var cuts = new List<int>();
        var count = random.Next(0, 6);
        for (var i = 0; i < count; i++)
        {
            cuts.Add(random.Next(0, data.Length + 1));
        }
        cuts.Sort();
        return Split(data, cuts.ToArray());
    }

    /// <summary>Runs a writer over <paramref name="capacity"/> bytes cut at random (or not) and returns what it wrote.</summary>
    public static (WireResult Result, byte[] Bytes) Write(ChainWrite write, int capacity = 8192, Random? random = null)
    {
        var backing = new byte[capacity];
        var readOnly = random is null ? new[] { (ReadOnlyMemory<byte>)backing } : RandomSplit(backing, random);
        var segments = Array.ConvertAll(readOnly, s => backing.AsMemory(Offset(backing, s), s.Length));
        var writer = new ChainWriter(segments);
        var result = write(ref writer);
        return (result, backing.AsSpan(0, (int)writer.Written).ToArray());
    }

    /// <summary>Runs a reader over <paramref name="data"/>, whole or cut at random; returns the result and the bytes left.</summary>
    public static (WireResult Result, long Remaining) Read(byte[] data, ChainRead read, Random? random = null)
    {
        var reader = new ChainReader(random is null ? new[] { (ReadOnlyMemory<byte>)data } : RandomSplit(data, random));
        var result = read(ref reader);
        return (result, reader.Remaining);
    }

    private static int Offset(byte[] backing, ReadOnlyMemory<byte> segment)
    {
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(segment, out var array);
        return array.Offset;
    }
}
