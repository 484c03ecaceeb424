using System;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// One buffer of a <see cref="BufferQueue"/>: its planes and the memory behind them, which depends on the queue's
/// memory type (an MMAP buffer in shared memory region 0, the guest pages of a SHARED_PAGES buffer, or an imported
/// virtio object), and its state. A device fills a buffer it took with <see cref="BufferQueue.TryTakeNext"/>.
/// </summary>
public sealed class QueueBuffer
{
    private readonly ulong[] _sizes;
    private readonly ulong[] _lengths;
    private readonly uint[] _bytesUsed;
    private readonly MmapBuffer?[] _mmap;
    private readonly GuestScatterList[] _pages;
    private readonly VirtioObject[] _objects;
    private readonly v4l2_plane[] _planes = new v4l2_plane[Constants.VIRTIO_MEDIA_MAX_PLANES];

    internal QueueBuffer(uint index, uint memory, ReadOnlySpan<ulong> planeSizes, GuestMemory guestMemory)
    {
        Index = index;
        Memory = memory;
        _sizes = planeSizes.ToArray();
        _lengths = planeSizes.ToArray();
        _bytesUsed = new uint[planeSizes.Length];
        _mmap = new MmapBuffer?[planeSizes.Length];
        _pages = new GuestScatterList[planeSizes.Length];
        _objects = new VirtioObject[planeSizes.Length];
        if (memory == Constants.V4L2_MEMORY_USERPTR)
        {
            for (var i = 0; i < _pages.Length; i++)
            {
                _pages[i] = new GuestScatterList(guestMemory);
            }
        }
    }

    /// <summary>The buffer's index in its queue.</summary>
    public uint Index { get; }

    /// <summary>The V4L2 memory type (V4L2_MEMORY_*).</summary>
    public uint Memory { get; }

    /// <summary>How many memory planes the buffer has.</summary>
    public int PlaneCount => _sizes.Length;

    /// <summary>Whether the device holds the buffer (queued, or taken to be filled).</summary>
    public bool IsQueued => State != QueueBufferState.Dequeued;

    internal QueueBufferState State { get; set; }

    internal uint Sequence { get; set; }

    internal timeval Timestamp { get; set; }

    internal v4l2_plane[] Planes => _planes;

    /// <summary>The bytes plane <paramref name="plane"/> holds at least: the size the format needed when it was allocated.</summary>
    public ulong PlaneSize(int plane) => _sizes[plane];

    /// <summary>The length of plane <paramref name="plane"/> as reported to the driver (for SHARED_PAGES, what the driver declared).</summary>
    public ulong PlaneLength(int plane) => _lengths[plane];

    /// <summary>The bytes of plane <paramref name="plane"/> when they are contiguous in this process (MMAP, VIRTIO_OBJECT); false for guest pages.</summary>
    public bool TryGetSpan(int plane, out Span<byte> span)
    {
        switch (Memory)
        {
            case Constants.V4L2_MEMORY_MMAP:
                span = _mmap[plane]!.Span;
                return true;
            case Constants.V4L2_MEMORY_DMABUF:
                span = _objects[plane].Span;
                return true;
            default:
                span = default;
                return false;
        }
    }

    /// <summary>
    /// A lease on the shared memory region the buffer's planes live in (MMAP and VIRTIO_OBJECT buffers): a device
    /// that fills buffers on its own thread holds it while it uses the spans <see cref="TryGetSpan"/> gave, so the
    /// region cannot be unmapped under it. Guest pages (SHARED_PAGES) are leased by each copy itself.
    /// </summary>
    public SharedMemoryLease LeaseMemory() => Memory switch
    {
        Constants.V4L2_MEMORY_MMAP when _mmap[0] is { } buffer => buffer.Lease(),
        Constants.V4L2_MEMORY_DMABUF when _objects[0].Buffer is { } buffer => buffer.Lease(),
        _ => default,
    };

    /// <summary>Writes <paramref name="data"/> at the start of plane <paramref name="plane"/>; false when it does not fit.</summary>
    public bool TryWrite(int plane, ReadOnlySpan<byte> data)
    {
        if ((ulong)data.Length > _lengths[plane])
        {
            return false;
        }
        using var lease = LeaseMemory();
        if (TryGetSpan(plane, out var span))
        {
            if (data.Length > span.Length)
            {
                return false;
            }
            data.CopyTo(span);
            return true;
        }
        return _pages[plane].TryWrite(0, data);
    }

    internal MmapBuffer? Mmap(int plane) => _mmap[plane];

    internal void SetMmap(int plane, MmapBuffer buffer) => _mmap[plane] = buffer;

    internal GuestScatterList Pages(int plane) => _pages[plane];

    /// <summary>
    /// Imports <paramref name="obj"/> into <paramref name="plane"/>, holding its memory until another object replaces
    /// it or the buffer is released, as an attached dma-buf keeps its memory when the exporter frees its buffer; false
    /// when the object's memory is already gone.
    /// </summary>
    internal bool TrySetObject(int plane, VirtioObject obj)
    {
        var previous = _objects[plane].Buffer;
        if (previous == obj.Buffer)
        {
            _objects[plane] = obj;
            return true;
        }
        if (!obj.Buffer.TryAddReference())
        {
            return false;
        }
        _objects[plane] = obj;
        if (previous is not null)
        {
            previous.Owner.Endpoint.Mmap.Drop(previous);
        }
        return true;
    }

    internal void SetLength(int plane, ulong length) => _lengths[plane] = length;

    internal uint BytesUsed(int plane) => _bytesUsed[plane];

    internal void SetBytesUsed(int plane, uint bytes) => _bytesUsed[plane] = bytes;

    internal bool IsMapped
    {
        get
        {
            foreach (var buffer in _mmap)
            {
                if (buffer is not null && buffer.Mappings > 0)
                {
                    return true;
                }
            }
            return false;
        }
    }

    internal void Release(MmapAllocator allocator)
    {
        for (var i = 0; i < _mmap.Length; i++)
        {
            if (_mmap[i] is { } buffer)
            {
                allocator.Release(buffer);
                _mmap[i] = null;
            }
        }
        for (var i = 0; i < _objects.Length; i++)
        {
            if (_objects[i].Buffer is { } imported)
            {
                imported.Owner.Endpoint.Mmap.Drop(imported);
                _objects[i] = default;
            }
        }
    }
}
