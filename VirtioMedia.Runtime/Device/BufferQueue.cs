using System;
using System.Collections.Generic;
using System.Diagnostics;
using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// A V4L2 buffer queue on the device side, with the rules of the V4L2 core (videobuf2) that a driver forwarding
/// every buffer ioctl to the device expects the device to keep: one queue per node shared by all sessions and owned by
/// the session that allocated its buffers (other sessions get EBUSY), REQBUFS and CREATE_BUFS of a memory type the
/// queue does not accept refused with EINVAL and capability bits that say exactly which are accepted, every buffer in
/// every state carrying V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, QBUF of a queued buffer refused, STREAMOFF returning the
/// queued buffers, and DQBUF events built from the queue's own record of each buffer. The device takes queued buffers
/// with <see cref="TryTakeNext"/>, fills them and hands them back with <see cref="Complete"/>.
/// </summary>
/// <remarks>
/// Not thread-safe: a device serialises the calls (one lock around its buffer ioctls and its frame producer), which
/// also keeps a buffer from being freed while it is being filled. Rules as v4l2-compliance checks them
/// (v4l2-test-buffers.cpp: testReqBufs, testQueryBuf, buffer::check, testMmap, setupMmap, setupUserPtr).
/// </remarks>
public sealed class BufferQueue
{
    private readonly List<QueueBuffer> _buffers = new();
    private readonly Queue<QueueBuffer> _queued = new();
    private readonly uint _maxBuffers;

    /// <summary>A queue of buffer type <paramref name="type"/> accepting <paramref name="memoryTypes"/>.</summary>
    /// <param name="type">The V4L2 buffer type (V4L2_BUF_TYPE_*).</param>
    /// <param name="memoryTypes">The memory types REQBUFS and CREATE_BUFS accept.</param>
    /// <param name="maxBuffers">The most buffers the queue holds (at most VIDEO_MAX_FRAME).</param>
    public BufferQueue(uint type, MemoryTypes memoryTypes, uint maxBuffers = Constants.VIDEO_MAX_FRAME)
    {
        if (maxBuffers == 0 || maxBuffers > Constants.VIDEO_MAX_FRAME)
        {
            throw new ArgumentOutOfRangeException(nameof(maxBuffers), maxBuffers, "a queue holds 1 to VIDEO_MAX_FRAME buffers");
        }
        Type = type;
        MemoryTypes = memoryTypes & MemoryTypes.All;
        _maxBuffers = maxBuffers;
        Capabilities = CapabilitiesOf(MemoryTypes);
    }

    /// <summary>The buffer type.</summary>
    public uint Type { get; }

    /// <summary>Whether the buffer type is multi-planar (planes travel as a <c>v4l2_plane</c> array).</summary>
    public bool IsMultiPlanar => Type is Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE or Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;

    /// <summary>The memory types accepted.</summary>
    public MemoryTypes MemoryTypes { get; }

    /// <summary>
    /// The V4L2_BUF_CAP_* bits REQBUFS and CREATE_BUFS answer: SUPPORTS_* for exactly the accepted memory types, and
    /// SUPPORTS_ORPHANED_BUFS when MMAP is accepted (a mapped buffer keeps its memory until MUNMAP, see
    /// <see cref="MmapAllocator"/>, so freeing mapped buffers is allowed).
    /// </summary>
    public uint Capabilities { get; }

    /// <summary>The session that owns the queue (allocated its buffers), or null.</summary>
    public DeviceSession? Owner { get; private set; }

    /// <summary>The memory type of the buffers allocated (0 before the first allocation).</summary>
    public uint Memory { get; private set; }

    /// <summary>How many buffers are allocated.</summary>
    public int Count => _buffers.Count;

    /// <summary>Whether STREAMON was called (and no STREAMOFF since).</summary>
    public bool IsStreaming { get; private set; }

    /// <summary>How many buffers are queued and not yet taken.</summary>
    public int QueuedCount => _queued.Count;

    /// <summary>The field every buffer reports (V4L2_FIELD_NONE unless the device sets another).</summary>
    public uint Field { get; set; } = Constants.V4L2_FIELD_NONE;

    /// <summary>Buffer <paramref name="index"/>.</summary>
    public QueueBuffer this[int index] => _buffers[index];

    /// <summary>The V4L2_BUF_CAP_* bits for <paramref name="memoryTypes"/>.</summary>
    public static uint CapabilitiesOf(MemoryTypes memoryTypes)
    {
        uint caps = 0;
        if ((memoryTypes & MemoryTypes.Mmap) != 0)
        {
            caps |= Constants.V4L2_BUF_CAP_SUPPORTS_MMAP | Constants.V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS;
        }
        if ((memoryTypes & MemoryTypes.SharedPages) != 0)
        {
            caps |= Constants.V4L2_BUF_CAP_SUPPORTS_USERPTR;
        }
        if ((memoryTypes & MemoryTypes.VirtioObject) != 0)
        {
            caps |= Constants.V4L2_BUF_CAP_SUPPORTS_DMABUF;
        }
        return caps;
    }

    /// <summary>Whether V4L2 memory type <paramref name="memory"/> (V4L2_MEMORY_*) is one of <see cref="MemoryTypes"/>.</summary>
    public bool Accepts(uint memory) => memory switch
    {
        Constants.V4L2_MEMORY_MMAP => (MemoryTypes & MemoryTypes.Mmap) != 0,
        Constants.V4L2_MEMORY_USERPTR => (MemoryTypes & MemoryTypes.SharedPages) != 0,
        Constants.V4L2_MEMORY_DMABUF => (MemoryTypes & MemoryTypes.VirtioObject) != 0,
        _ => false,
    };

    /// <summary>Whether a session other than <paramref name="session"/> owns the queue (vb2_queue_is_busy).</summary>
    public bool IsBusy(DeviceSession session) => Owner is not null && Owner != session;

    /// <summary>
    /// VIDIOC_REQBUFS: frees the buffers, then allocates up to <c>count</c> of <paramref name="planeSizes"/>
    /// (one size per memory plane, from the current format; MMAP memory is allocated now). EINVAL for another type or
    /// a memory type not accepted, EBUSY while another session owns the queue or while streaming, ENOMEM when not one
    /// MMAP buffer fits. Count 0 frees the buffers and gives up ownership.
    /// </summary>
    public int RequestBuffers(DeviceIoctlContext context, ref v4l2_requestbuffers payload, ReadOnlySpan<ulong> planeSizes)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (payload.type != Type || !Accepts(payload.memory))
        {
            return Constants.EINVAL;
        }
        if (IsBusy(context.Session) || IsStreaming)
        {
            return Constants.EBUSY;
        }
        CheckPlaneSizes(planeSizes);
        FreeBuffers(context.Mmap);
        Memory = payload.memory;
        var granted = Allocate(context, Math.Min(payload.count, _maxBuffers), planeSizes);
        Owner = granted > 0 ? context.Session : null;
        if (payload.count > 0 && granted == 0)
        {
            return Constants.ENOMEM;
        }
        payload.count = granted;
        payload.capabilities = Capabilities;
        // No cache hints (V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS is not offered), so V4L2_MEMORY_FLAG_NON_COHERENT is cleared.
        payload.flags = 0;
        ((Span<byte>)payload.reserved).Clear();
        return 0;
    }

    /// <summary>
    /// VIDIOC_CREATE_BUFS: adds up to <c>count</c> buffers of <paramref name="planeSizes"/> (the sizes the request's
    /// format asks for, which the device has checked) after the existing ones; <c>index</c> answers the first new
    /// buffer's index. Count 0 only reports <c>index</c> and the capabilities. EINVAL for another type, a memory type
    /// not accepted or not that of the existing buffers; EBUSY while another session owns the queue; ENOBUFS when full.
    /// </summary>
    public int CreateBuffers(DeviceIoctlContext context, ref v4l2_create_buffers payload, ReadOnlySpan<ulong> planeSizes)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (payload.format.type != Type || !Accepts(payload.memory))
        {
            return Constants.EINVAL;
        }
        payload.index = (uint)_buffers.Count;
        payload.capabilities = Capabilities;
        payload.flags = 0;
        ((Span<uint>)payload.reserved).Clear();
        if (payload.count == 0)
        {
            return 0;
        }
        if (IsBusy(context.Session))
        {
            return Constants.EBUSY;
        }
        if (_buffers.Count > 0 && payload.memory != Memory)
        {
            return Constants.EINVAL;
        }
        CheckPlaneSizes(planeSizes);
        var room = _maxBuffers - (uint)_buffers.Count;
        if (room == 0)
        {
            return Constants.ENOBUFS;
        }
        Memory = payload.memory;
        var granted = Allocate(context, Math.Min(payload.count, room), planeSizes);
        if (granted == 0)
        {
            return Constants.ENOMEM;
        }
        Owner = context.Session;
        payload.count = granted;
        return 0;
    }

    /// <summary>VIDIOC_QUERYBUF: any session may query. EINVAL for another type, an index out of range, or too few planes.</summary>
    public int QueryBuffer(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!TryGetBuffer(context, in payload, out var buffer))
        {
            return Constants.EINVAL;
        }
        Describe(buffer, ref payload, context.Planes);
        return 0;
    }

    /// <summary>
    /// VIDIOC_QBUF: hands buffer <c>index</c> to the device. EBUSY for a session that does not own the queue; EINVAL
    /// for another type or memory, an index out of range, too few planes, a buffer already queued, SHARED_PAGES or
    /// virtio objects smaller than the buffer's planes; EFAULT for an SG list outside guest memory.
    /// </summary>
    public int QueueBuffer(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (IsBusy(context.Session))
        {
            return Constants.EBUSY;
        }
        if (!TryGetBuffer(context, in payload, out var buffer) || payload.memory != Memory || buffer.IsQueued)
        {
            return Constants.EINVAL;
        }
        var planes = context.Planes;
        switch (Memory)
        {
            case Constants.V4L2_MEMORY_USERPTR:
                if (context.SgListCount != buffer.PlaneCount)
                {
                    return Constants.EINVAL;
                }
                for (var plane = 0; plane < buffer.PlaneCount; plane++)
                {
                    var declared = IsMultiPlanar ? planes[plane].length : payload.length;
                    if (declared < buffer.PlaneSize(plane))
                    {
                        return Constants.EINVAL;
                    }
                    var pages = buffer.Pages(plane);
                    if (!context.LoadSharedPages(plane, pages).IsSuccess || pages.Length < buffer.PlaneSize(plane))
                    {
                        return Constants.EFAULT;
                    }
                    buffer.SetLength(plane, Math.Min(declared, pages.Length));
                }
                break;
            case Constants.V4L2_MEMORY_DMABUF:
                if (context.UuidCount != buffer.PlaneCount)
                {
                    return Constants.EINVAL;
                }
                for (var plane = 0; plane < buffer.PlaneCount; plane++)
                {
                    if (!context.Objects.TryResolve(context.GetUuid(plane), out var obj) || obj.Length < buffer.PlaneSize(plane) || !buffer.TrySetObject(plane, obj))
                    {
                        return Constants.EINVAL;
                    }
                    buffer.SetLength(plane, obj.Length);
                }
                break;
        }
        // The driver's pointers (userptr, fd) are kept as it passed them, so the response echoes them.
        for (var plane = 0; plane < buffer.PlaneCount && plane < planes.Length; plane++)
        {
            buffer.Planes[plane].m = planes[plane].m;
        }
        buffer.State = QueueBufferState.Queued;
        buffer.Sequence = 0;
        buffer.Timestamp = default;
        _queued.Enqueue(buffer);
        Describe(buffer, ref payload, planes);
        return 0;
    }

    /// <summary>VIDIOC_EXPBUF: exports an MMAP buffer's plane as a virtio object. EBUSY for a non-owner; EINVAL otherwise.</summary>
    public int ExportBuffer(DeviceIoctlContext context, ref v4l2_exportbuffer payload, out Guid uuid)
    {
        ArgumentNullException.ThrowIfNull(context);
        uuid = default;
        if (IsBusy(context.Session))
        {
            return Constants.EBUSY;
        }
        if (payload.type != Type || Memory != Constants.V4L2_MEMORY_MMAP || payload.index >= _buffers.Count
            || payload.plane >= _buffers[(int)payload.index].PlaneCount
            || !context.Objects.TryExport(_buffers[(int)payload.index].Mmap((int)payload.plane)!, out uuid))
        {
            return Constants.EINVAL;
        }
        return 0;
    }

    /// <summary>VIDIOC_STREAMON: EBUSY for a non-owner, EINVAL for another type or no buffers; again while streaming is a no-op.</summary>
    public int StreamOn(DeviceIoctlContext context, uint type)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (IsBusy(context.Session))
        {
            return Constants.EBUSY;
        }
        if (type != Type || _buffers.Count == 0)
        {
            return Constants.EINVAL;
        }
        IsStreaming = true;
        return 0;
    }

    /// <summary>
    /// VIDIOC_STREAMOFF: stops streaming and returns every queued or taken buffer to the driver without a DQBUF
    /// (as in V4L2). EBUSY for a non-owner, EINVAL for another type; allowed without buffers or when not streaming.
    /// </summary>
    public int StreamOff(DeviceIoctlContext context, uint type)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (IsBusy(context.Session))
        {
            return Constants.EBUSY;
        }
        if (type != Type)
        {
            return Constants.EINVAL;
        }
        Stop();
        return 0;
    }

    /// <summary>While streaming, takes the oldest queued buffer for the device to fill; false when none is queued.</summary>
    public bool TryTakeNext(out QueueBuffer buffer)
    {
        if (!IsStreaming || !_queued.TryDequeue(out buffer!))
        {
            buffer = null!;
            return false;
        }
        buffer.State = QueueBufferState.Active;
        return true;
    }

    /// <summary>
    /// Returns a filled buffer to the owner's driver with a DQBUF event: sequence <paramref name="sequence"/>,
    /// <paramref name="bytesUsed"/> per plane, a CLOCK_MONOTONIC timestamp taken now, V4L2_BUF_FLAG_LAST when
    /// <paramref name="last"/>. False (and nothing sent) when the buffer was not taken or the stream stopped since.
    /// </summary>
    public bool Complete(QueueBuffer buffer, uint sequence, ReadOnlySpan<uint> bytesUsed, bool last = false)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.State != QueueBufferState.Active || !IsStreaming || Owner is null || bytesUsed.Length < buffer.PlaneCount)
        {
            return false;
        }
        for (var plane = 0; plane < buffer.PlaneCount; plane++)
        {
            buffer.SetBytesUsed(plane, (uint)Math.Min(bytesUsed[plane], buffer.PlaneLength(plane)));
        }
        var microseconds = (long)(Stopwatch.GetTimestamp() * (1_000_000.0 / Stopwatch.Frequency));
        buffer.Timestamp = new timeval { tv_sec = microseconds / 1_000_000, tv_usec = microseconds % 1_000_000 };
        buffer.Sequence = sequence;
        buffer.State = QueueBufferState.Dequeued;
        var done = new v4l2_buffer { index = buffer.Index, type = Type };
        Span<v4l2_plane> planes = buffer.Planes.AsSpan(0, IsMultiPlanar ? buffer.PlaneCount : 0);
        Describe(buffer, ref done, planes, dequeued: true);
        // DONE tells the driver the buffer is ready; the driver clears it when the application dequeues it.
        done.flags |= Constants.V4L2_BUF_FLAG_DONE;
        if (last)
        {
            done.flags |= Constants.V4L2_BUF_FLAG_LAST;
        }
        return Owner.EmitDqbuf(done, planes);
    }

    /// <summary>Stops streaming and returns every queued buffer (STREAMOFF without its checks).</summary>
    public void Stop()
    {
        IsStreaming = false;
        _queued.Clear();
        foreach (var buffer in _buffers)
        {
            buffer.State = QueueBufferState.Dequeued;
        }
    }

    /// <summary>The owner's session is closing: stop, free the buffers and clear the owner. No-op for another session.</summary>
    public void Release(DeviceSession session, MmapAllocator mmap)
    {
        ArgumentNullException.ThrowIfNull(mmap);
        if (Owner != session)
        {
            return;
        }
        Reset(mmap);
    }

    /// <summary>Stops, frees every buffer and clears the owner, whoever it is (the endpoint is going away).</summary>
    public void Reset(MmapAllocator mmap)
    {
        ArgumentNullException.ThrowIfNull(mmap);
        Stop();
        FreeBuffers(mmap);
        Owner = null;
    }

    private void CheckPlaneSizes(ReadOnlySpan<ulong> planeSizes)
    {
        if (planeSizes.Length == 0 || planeSizes.Length > Constants.VIRTIO_MEDIA_MAX_PLANES || (!IsMultiPlanar && planeSizes.Length != 1))
        {
            throw new ArgumentException("one plane size per memory plane (exactly one for a single-planar type)", nameof(planeSizes));
        }
        foreach (var size in planeSizes)
        {
            if (size == 0 || size > uint.MaxValue)
            {
                throw new ArgumentException("plane sizes are 1 to 2^32 - 1 bytes", nameof(planeSizes));
            }
        }
    }

    private uint Allocate(DeviceIoctlContext context, uint count, ReadOnlySpan<ulong> planeSizes)
    {
        uint granted = 0;
        for (; granted < count; granted++)
        {
            var buffer = new QueueBuffer((uint)_buffers.Count, Memory, planeSizes, context.GuestMemory);
            if (Memory == Constants.V4L2_MEMORY_MMAP)
            {
                for (var plane = 0; plane < planeSizes.Length; plane++)
                {
                    var memory = context.Mmap.Allocate(context.Session, planeSizes[plane]);
                    if (memory is null)
                    {
                        // Fewer buffers than asked is an answer REQBUFS may give; the partial one goes back.
                        buffer.Release(context.Mmap);
                        return granted;
                    }
                    buffer.SetMmap(plane, memory);
                }
            }
            _buffers.Add(buffer);
        }
        return granted;
    }

    private void FreeBuffers(MmapAllocator mmap)
    {
        foreach (var buffer in _buffers)
        {
            buffer.Release(mmap);
        }
        _buffers.Clear();
        _queued.Clear();
    }

    private bool TryGetBuffer(DeviceIoctlContext context, in v4l2_buffer payload, out QueueBuffer buffer)
    {
        if (payload.type != Type || payload.index >= _buffers.Count)
        {
            buffer = null!;
            return false;
        }
        buffer = _buffers[(int)payload.index];
        // A multi-planar v4l2_buffer carries one v4l2_plane per plane (videobuf2: __verify_planes_array).
        return !IsMultiPlanar || (payload.length >= buffer.PlaneCount && context.Planes.Length >= buffer.PlaneCount);
    }

    // Fills a v4l2_buffer (and its planes) from the queue's record of the buffer, as videobuf2's __fill_v4l2_buffer.
    private void Describe(QueueBuffer buffer, ref v4l2_buffer payload, Span<v4l2_plane> planes, bool dequeued = false)
    {
        payload.index = buffer.Index;
        payload.type = Type;
        payload.memory = Memory;
        payload.field = Field;
        payload.sequence = buffer.Sequence;
        payload.timestamp = buffer.Timestamp;
        payload.timecode = default;
        payload.reserved2 = 0;
        payload.request_fd = 0;
        uint flags = Constants.V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | Constants.V4L2_BUF_FLAG_TSTAMP_SRC_EOF;
        if (buffer.IsQueued && !dequeued)
        {
            flags |= Constants.V4L2_BUF_FLAG_QUEUED;
        }
        if (buffer.IsMapped)
        {
            flags |= Constants.V4L2_BUF_FLAG_MAPPED;
        }
        payload.flags = flags;
        if (!IsMultiPlanar)
        {
            payload.length = (uint)buffer.PlaneLength(0);
            payload.bytesused = buffer.BytesUsed(0);
            if (Memory == Constants.V4L2_MEMORY_MMAP)
            {
                payload.m.offset = buffer.Mmap(0)!.MemOffset;
            }
            return;
        }
        payload.length = (uint)buffer.PlaneCount;
        payload.bytesused = 0;
        for (var plane = 0; plane < buffer.PlaneCount && plane < planes.Length; plane++)
        {
            ref var p = ref planes[plane];
            var m = Memory == Constants.V4L2_MEMORY_MMAP ? default : buffer.Planes[plane].m;
            p = default;
            p.bytesused = buffer.BytesUsed(plane);
            p.length = (uint)buffer.PlaneLength(plane);
            p.m = m;
            if (Memory == Constants.V4L2_MEMORY_MMAP)
            {
                p.m.mem_offset = buffer.Mmap(plane)!.MemOffset;
            }
        }
    }
}
