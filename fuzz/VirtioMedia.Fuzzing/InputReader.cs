using System;

namespace VirtioMedia.Fuzzing;

/// <summary>Reads a fuzzer's input front to back; past the end it yields zeros, so every input is a valid one.</summary>
internal sealed class InputReader(byte[] data)
{
    private int _at;

    public bool AtEnd => _at >= data.Length;

    public byte U8() => _at < data.Length ? data[_at++] : (byte)0;

    public ushort U16() => (ushort)(U8() | (U8() << 8));

    public uint U32() => (uint)(U16() | (U16() << 16));

    /// <summary>Copies up to <paramref name="destination"/>'s length; returns how many bytes there were.</summary>
    public int Fill(Span<byte> destination)
    {
        var count = Math.Min(destination.Length, Math.Max(0, data.Length - _at));
        data.AsSpan(_at, count).CopyTo(destination);
        _at += count;
        return count;
    }
}
