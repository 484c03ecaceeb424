using System;
using System.Buffers;

namespace VirtioMedia.Runtime.Memory;

/// <summary>
/// A <see cref="Memory{T}"/> over native memory that does not move (guest memory, shared memory), so the
/// chain codecs, which work on <see cref="Memory{T}"/> segments, can read and write descriptors in place.
/// Reusable: <see cref="Reset"/> points it elsewhere without allocating.
/// </summary>
internal sealed unsafe class NativeMemoryManager : MemoryManager<byte>
{
    private byte* _pointer;
    private int _length;

    /// <summary>Points the manager at a span of native memory; the caller keeps that memory alive.</summary>
    public void Reset(Span<byte> nativeSpan)
    {
        _pointer = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(nativeSpan));
        _length = nativeSpan.Length;
    }

    public override Span<byte> GetSpan() => new(_pointer, _length);

    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
        _pointer = null;
        _length = 0;
    }
}
