using System;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Proxy;

// Buffers: the host node allocates and fills them; the guest sees MMAP buffers in shared memory region 0 and its own
// pages for SHARED_PAGES. Every index, memory type, plane count, length and SG list the guest sends is checked here
// before anything reaches the host or is copied, since the proxy itself dereferences them.
public sealed partial class ProxySession
{
    private const uint CapabilitiesServed = Constants.V4L2_BUF_CAP_SUPPORTS_MMAP | Constants.V4L2_BUF_CAP_SUPPORTS_USERPTR
        | Constants.V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS | Constants.V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS
        | Constants.V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF;

    /// <summary>Whether the guest may use <paramref name="memory"/>: MMAP needs region 0; DMABUF (VIRTIO_OBJECT) is not offered.</summary>
    internal static bool MemoryServed(uint memory, bool sharedMemory) =>
        memory == Constants.V4L2_MEMORY_USERPTR || (memory == Constants.V4L2_MEMORY_MMAP && sharedMemory);

    private uint ServedCapabilities(uint capabilities)
    {
        var served = capabilities & CapabilitiesServed;
        return Session.Endpoint.SharedMemoryAvailable ? served : served & ~(uint)Constants.V4L2_BUF_CAP_SUPPORTS_MMAP;
    }

    /// <inheritdoc/>
    public override int VIDIOC_REQBUFS(DeviceIoctlContext context, ref v4l2_requestbuffers payload)
    {
        if (!MemoryServed(payload.memory, Session.Endpoint.SharedMemoryAvailable) || V4l2Proxy.IsOverlay(payload.type))
        {
            return Constants.EINVAL;
        }
        lock (_gate)
        {
            var status = Forward(Ioctls.VIDIOC_REQBUFS.Descriptor.Request, ref payload);
            if (status != 0)
            {
                return status;
            }
            payload.capabilities = ServedCapabilities(payload.capabilities);
            var queue = QueueOf(payload.type);
            queue.Release(Session.Endpoint.Mmap);
            queue.Memory = payload.memory;
            status = AddBuffers(queue, payload.count);
            if (status != 0)
            {
                queue.Release(Session.Endpoint.Mmap);
                var none = new v4l2_requestbuffers { type = payload.type, memory = payload.memory };
                Forward(Ioctls.VIDIOC_REQBUFS.Descriptor.Request, ref none);
            }
            return status;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_CREATE_BUFS(DeviceIoctlContext context, ref v4l2_create_buffers payload)
    {
        if (!MemoryServed(payload.memory, Session.Endpoint.SharedMemoryAvailable))
        {
            return Constants.EINVAL;
        }
        lock (_gate)
        {
            var queue = QueueOf(payload.format.type);
            if (queue.Buffers.Count > 0 && queue.Memory != payload.memory)
            {
                return Constants.EINVAL;
            }
            var status = Forward(Ioctls.VIDIOC_CREATE_BUFS.Descriptor.Request, ref payload);
            if (status != 0)
            {
                return status;
            }
            payload.capabilities = ServedCapabilities(payload.capabilities);
            if (payload.count == 0)
            {
                return 0;
            }
            if (payload.index != (uint)queue.Buffers.Count)
            {
                return Constants.EIO; // the host numbered them otherwise than the proxy counted
            }
            queue.Memory = payload.memory;
            return AddBuffers(queue, payload.index + payload.count);
        }
    }

    private ProxyQueue QueueOf(uint type)
    {
        if (!_queues.TryGetValue(type, out var queue))
        {
            queue = new ProxyQueue(type);
            _queues[type] = queue;
        }
        return queue;
    }

    // Learns buffers [Buffers.Count, count) from the host (QUERYBUF), mapping MMAP ones and giving each a twin in region 0.
    private unsafe int AddBuffers(ProxyQueue queue, uint count)
    {
        if (count > Constants.VIDEO_MAX_FRAME)
        {
            return Constants.EIO;
        }
        Span<v4l2_plane> planes = stackalloc v4l2_plane[Constants.VIDEO_MAX_PLANES];
        while (queue.Buffers.Count < count)
        {
            var query = new v4l2_buffer { index = (uint)queue.Buffers.Count, type = queue.Type, memory = queue.Memory };
            planes.Clear();
            var status = BufferIoctl(Ioctls.VIDIOC_QUERYBUF.Descriptor.Request, ref query, planes, queue.MultiPlanar, allPlanes: true);
            if (status != 0)
            {
                return status;
            }
            var buffer = new ProxyBuffer { Planes = queue.MultiPlanar ? (int)query.length : 1 };
            queue.Buffers.Add(buffer);
            if (buffer.Planes is < 1 or > Constants.VIDEO_MAX_PLANES)
            {
                return Constants.EIO;
            }
            for (var plane = 0; plane < buffer.Planes; plane++)
            {
                buffer.HostLength[plane] = queue.MultiPlanar ? planes[plane].length : query.length;
                if (queue.Memory != Constants.V4L2_MEMORY_MMAP)
                {
                    continue;
                }
                buffer.HostOffset[plane] = queue.MultiPlanar ? planes[plane].m.mem_offset : query.m.offset;
                buffer.HostMap[plane] = _node.Map(buffer.HostOffset[plane], buffer.HostLength[plane]);
                buffer.Shared[plane] = Session.Endpoint.Mmap.Allocate(Session, buffer.HostLength[plane]);
                if (buffer.HostMap[plane] == IntPtr.Zero || buffer.Shared[plane] is null)
                {
                    return Constants.ENOMEM;
                }
            }
        }
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_QUERYBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        lock (_gate)
        {
            if (!TryFind(context, in payload, out var queue, out var buffer, out var status))
            {
                return status;
            }
            var planes = context.Planes;
            status = BufferIoctl(Ioctls.VIDIOC_QUERYBUF.Descriptor.Request, ref payload, planes, queue.MultiPlanar, allPlanes: false);
            if (status == 0)
            {
                ToGuestView(queue, buffer, ref payload, planes);
            }
            return status;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_QBUF(DeviceIoctlContext context, ref v4l2_buffer payload) =>
        Queue(Ioctls.VIDIOC_QBUF.Descriptor.Request, context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_PREPARE_BUF(DeviceIoctlContext context, ref v4l2_buffer payload) =>
        Queue(Ioctls.VIDIOC_PREPARE_BUF.Descriptor.Request, context, ref payload);

    private unsafe int Queue(ulong request, DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        if ((payload.flags & Constants.V4L2_BUF_FLAG_REQUEST_FD) != 0)
        {
            return Constants.EINVAL; // no media requests through virtio-media
        }
        lock (_gate)
        {
            if (!TryFind(context, in payload, out var queue, out var buffer, out var status))
            {
                return status;
            }
            var planes = context.Planes;
            var copies = 0;
            for (var plane = 0; plane < buffer.Planes; plane++)
            {
                ref var length = ref queue.MultiPlanar ? ref planes[plane].length : ref payload.length;
                var bytesused = queue.MultiPlanar ? planes[plane].bytesused : payload.bytesused;
                if (queue.Memory == Constants.V4L2_MEMORY_MMAP)
                {
                    if (queue.MultiPlanar)
                    {
                        planes[plane].m.mem_offset = buffer.HostOffset[plane];
                    }
                    else
                    {
                        payload.m.offset = buffer.HostOffset[plane];
                    }
                    if (queue.Output && request == Ioctls.VIDIOC_QBUF.Descriptor.Request)
                    {
                        var used = Math.Min(bytesused == 0 ? buffer.HostLength[plane] : bytesused, buffer.HostLength[plane]);
                        using (buffer.Shared[plane]!.Lease())
                        {
                            buffer.Shared[plane]!.Span[..(int)used].CopyTo(new Span<byte>((void*)buffer.HostMap[plane], (int)used));
                        }
                        copies++;
                    }
                    continue;
                }
                // SHARED_PAGES: plane i's pages are SG list i.
                if (plane >= context.SgListCount)
                {
                    return Constants.EINVAL;
                }
                var pages = buffer.Pages[plane] ??= new GuestScatterList(context.GuestMemory);
                if (!context.LoadSharedPages(plane, pages).IsSuccess)
                {
                    return Constants.EFAULT;
                }
                if (length == 0 || length > pages.Length)
                {
                    return Constants.EINVAL;
                }
                buffer.Direct[plane] = ScatterRanges.TryGetHostRange(context.GuestMemory, context.Message.SgList(plane), length, out var host);
                if (!buffer.Direct[plane])
                {
                    host = buffer.BounceFor(plane, length);
                    if (queue.Output && request == Ioctls.VIDIOC_QBUF.Descriptor.Request)
                    {
                        var used = Math.Min(bytesused == 0 ? length : bytesused, length);
                        pages.TryRead(0, new Span<byte>((void*)host, (int)used));
                        copies++;
                    }
                }
                buffer.UserPointer[plane] = host;
                if (queue.MultiPlanar)
                {
                    planes[plane].m.userptr = (ulong)host;
                }
                else
                {
                    payload.m.userptr = (ulong)host;
                }
            }
            status = BufferIoctl(request, ref payload, planes, queue.MultiPlanar, allPlanes: false);
            if (queue.Output && copies > 0 && status == 0)
            {
                _proxy.Statistics.CountFrame(queue.Memory == Constants.V4L2_MEMORY_MMAP, copies);
            }
            ToGuestView(queue, buffer, ref payload, planes);
            return status;
        }
    }

    // The index, type, memory and plane count of a buffer the guest names, against what the proxy learnt from the host.
    private bool TryFind(DeviceIoctlContext context, in v4l2_buffer payload, out ProxyQueue queue, out ProxyBuffer buffer, out int status)
    {
        buffer = null!;
        status = Constants.EINVAL;
        if (!_queues.TryGetValue(payload.type, out queue!) || payload.index >= (uint)queue.Buffers.Count || payload.memory != queue.Memory)
        {
            return false;
        }
        buffer = queue.Buffers[(int)payload.index];
        if (queue.MultiPlanar && (payload.length != (uint)buffer.Planes || context.Planes.Length != buffer.Planes))
        {
            return false;
        }
        status = 0;
        return true;
    }

    // What the guest sees of a buffer: region-0 offsets for MMAP, no host address anywhere.
    private static void ToGuestView(ProxyQueue queue, ProxyBuffer buffer, ref v4l2_buffer payload, Span<v4l2_plane> planes)
    {
        if (queue.MultiPlanar)
        {
            payload.m.planes = 0;
            for (var plane = 0; plane < buffer.Planes && plane < planes.Length; plane++)
            {
                if (queue.Memory == Constants.V4L2_MEMORY_MMAP)
                {
                    planes[plane].m.mem_offset = buffer.Shared[plane]?.MemOffset ?? 0;
                }
                else
                {
                    planes[plane].m.userptr = 0;
                }
            }
        }
        else if (queue.Memory == Constants.V4L2_MEMORY_MMAP)
        {
            payload.m.userptr = 0;
            payload.m.offset = buffer.Shared[0]?.MemOffset ?? 0;
        }
        else
        {
            payload.m.userptr = 0;
        }
    }

    /// <summary>
    /// A v4l2_buffer ioctl on the host node with <paramref name="planes"/> as its plane array (multi-planar queues);
    /// <paramref name="allPlanes"/> offers the host room for every plane (QUERYBUF and DQBUF of buffers the guest did not name).
    /// </summary>
    private unsafe int BufferIoctl(ulong request, ref v4l2_buffer payload, Span<v4l2_plane> planes, bool multiPlanar, bool allPlanes)
    {
        fixed (v4l2_plane* array = planes)
        {
            if (multiPlanar)
            {
                payload.m.planes = (ulong)array;
                if (allPlanes)
                {
                    payload.length = (uint)planes.Length;
                }
            }
            return Forward(request, ref payload);
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_STREAMON(DeviceIoctlContext context, ref int payload) =>
        Stream(Ioctls.VIDIOC_STREAMON.Descriptor.Request, ref payload, streaming: true);

    /// <inheritdoc/>
    public override int VIDIOC_STREAMOFF(DeviceIoctlContext context, ref int payload) =>
        Stream(Ioctls.VIDIOC_STREAMOFF.Descriptor.Request, ref payload, streaming: false);

    // The poll thread waits for the buffers of the queues that stream.
    private int Stream(ulong request, ref int payload, bool streaming)
    {
        lock (_gate)
        {
            var status = Forward(request, ref payload);
            if (status == 0)
            {
                QueueOf((uint)payload).Streaming = streaming;
            }
            return status;
        }
    }
}
