using System;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Memory;

namespace VirtioMedia.Runtime.Driver;

/// <summary>
/// A SHARED_PAGES buffer (V4L2_MEMORY_USERPTR): driver memory given to the device as an SG list of guest pages.
/// The pages are listed in the reverse order of their addresses, so the list is truly scattered and a device that
/// assumes contiguity shows at once.
/// </summary>
public sealed class SharedPagesBuffer : IDisposable
{
    /// <summary>The page size of the SG entries.</summary>
    public const int PageSize = 4096;

    private readonly GuestMemory _memory;
    private readonly RangeAllocator _heap;
    private readonly virtio_media_sg_entry[] _entries;
    private bool _disposed;

    internal SharedPagesBuffer(GuestMemory memory, RangeAllocator heap, virtio_media_sg_entry[] entries, uint length)
    {
        _memory = memory;
        _heap = heap;
        _entries = entries;
        Length = length;
    }

    /// <summary>The buffer's length in bytes (what goes in <c>length</c> of <c>v4l2_buffer</c> or <c>v4l2_plane</c>).</summary>
    public uint Length { get; }

    /// <summary>The SG entries covering exactly <see cref="Length"/> bytes, for <see cref="IoctlExtras.SgEntries"/>.</summary>
    public Memory<virtio_media_sg_entry> SgEntries => _entries;

    /// <summary>Copies the buffer's bytes out, in buffer order.</summary>
    public void CopyTo(Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (destination.Length < Length)
        {
            throw new ArgumentException("destination shorter than the buffer", nameof(destination));
        }
        var at = 0;
        foreach (var entry in _entries)
        {
            _memory.GetSpan(entry.start, entry.len).CopyTo(destination.Slice(at));
            at += (int)entry.len;
        }
    }

    /// <summary>Copies <paramref name="source"/> in, in buffer order (an output frame); the rest of the buffer is left as it is.</summary>
    public void CopyFrom(ReadOnlySpan<byte> source)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (source.Length > Length)
        {
            throw new ArgumentException($"{source.Length} bytes do not fit in a buffer of {Length}", nameof(source));
        }
        foreach (var entry in _entries)
        {
            if (source.IsEmpty)
            {
                return;
            }
            var part = source[..Math.Min(source.Length, (int)entry.len)];
            part.CopyTo(_memory.GetSpan(entry.start, (ulong)part.Length));
            source = source[part.Length..];
        }
    }

    /// <summary>Fills the buffer with <paramref name="value"/>.</summary>
    public void Fill(byte value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var entry in _entries)
        {
            _memory.GetSpan(entry.start, entry.len).Fill(value);
        }
    }

    /// <summary>Returns the pages to the driver's memory; the device must be done with them.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        foreach (var entry in _entries)
        {
            // A page per entry when scattered, the whole run when contiguous: what was allocated for it.
            _heap.Free(entry.start, RoundUpToPages(entry.len));
        }
    }

    internal static uint RoundUpToPages(uint length) => (length + PageSize - 1) & ~(uint)(PageSize - 1);
}
