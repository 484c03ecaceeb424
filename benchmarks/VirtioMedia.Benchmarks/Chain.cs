using System;

namespace VirtioMedia.Benchmarks;

/// <summary>
/// One part of a descriptor chain (device-readable or device-writable) cut into three segments at offsets that
/// fall inside structs, so the codecs take their straddling paths as they would on a real queue.
/// </summary>
public sealed class Chain
{
    public Chain(int length)
    {
        Bytes = new byte[length];
        var cuts = new[] { 0, length / 3 + 1, 2 * length / 3 + 3, length };
        Writable = new Memory<byte>[3];
        Readable = new ReadOnlyMemory<byte>[3];
        for (var i = 0; i < 3; i++)
        {
            Writable[i] = Bytes.AsMemory(cuts[i], cuts[i + 1] - cuts[i]);
            Readable[i] = Writable[i];
        }
    }

    public byte[] Bytes { get; }

    public Memory<byte>[] Writable { get; }

    public ReadOnlyMemory<byte>[] Readable { get; }
}
