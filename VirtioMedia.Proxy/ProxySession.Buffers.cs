using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Proxy;

// Buffers: the host node allocates and fills them; the guest sees MMAP buffers in shared memory region 0, its own
// pages for SHARED_PAGES and virtio objects of the registry for VIRTIO_OBJECT. Every index, memory type, plane count,
// length, SG list and UUID the guest sends is checked here before anything reaches the host or is copied, since the
// proxy itself dereferences them.
public sealed partial class ProxySession
{
    private const uint CapabilitiesServed = Constants.V4L2_BUF_CAP_SUPPORTS_MMAP | Constants.V4L2_BUF_CAP_SUPPORTS_USERPTR
        | Constants.V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS | Constants.V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS
        | Constants.V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF;

    /// <summary>
    /// Whether the guest may use <paramref name="memory"/>: MMAP needs region 0; SHARED_PAGES (USERPTR) always;
    /// VIRTIO_OBJECT (DMABUF) always, served by the host's USERPTR (the host then answers for its support).
    /// </summary>
    internal static bool MemoryServed(uint memory, bool sharedMemory) =>
        memory is Constants.V4L2_MEMORY_USERPTR or Constants.V4L2_MEMORY_DMABUF || (memory == Constants.V4L2_MEMORY_MMAP && sharedMemory);

    /// <summary>
    /// The buffer capabilities the guest is told: the host's that the proxy carries; MMAP only with region 0; DMABUF
    /// (VIRTIO_OBJECT) exactly when the host takes USERPTR, since objects reach the host as USERPTR memory (a host
    /// dma-buf import would need a file descriptor of the object, which region 0 memory has not).
    /// </summary>
    internal static uint ServedCapabilities(uint capabilities, bool sharedMemory)
    {
        var served = capabilities & CapabilitiesServed;
        if (!sharedMemory)
        {
            served &= ~(uint)Constants.V4L2_BUF_CAP_SUPPORTS_MMAP;
        }
        if ((capabilities & Constants.V4L2_BUF_CAP_SUPPORTS_USERPTR) != 0)
        {
            served |= Constants.V4L2_BUF_CAP_SUPPORTS_DMABUF;
        }
        return served;
    }

    private uint ServedCapabilities(uint capabilities) => ServedCapabilities(capabilities, Session.Endpoint.SharedMemoryAvailable);

    /// <inheritdoc/>
    public override int VIDIOC_REQBUFS(DeviceIoctlContext context, ref v4l2_requestbuffers payload)
    {
        if (!MemoryServed(payload.memory, Session.Endpoint.SharedMemoryAvailable) || V4l2Proxy.IsOverlay(payload.type))
        {
            return Constants.EINVAL;
        }
        lock (_gate)
        {
            var memory = payload.memory;
            payload.memory = ProxyQueue.HostMemoryOf(memory);
            var status = Forward(Ioctls.VIDIOC_REQBUFS.Descriptor.Request, ref payload);
            payload.memory = memory;
            if (status != 0)
            {
                return status;
            }
            payload.capabilities = ServedCapabilities(payload.capabilities);
            var queue = QueueOf(payload.type);
            queue.Release(Session.Endpoint.Mmap);
            queue.Memory = memory;
            status = AddBuffers(queue, payload.count);
            if (status != 0)
            {
                queue.Release(Session.Endpoint.Mmap);
                var none = new v4l2_requestbuffers { type = payload.type, memory = queue.HostMemory };
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
            var memory = payload.memory;
            payload.memory = ProxyQueue.HostMemoryOf(memory);
            var status = Forward(Ioctls.VIDIOC_CREATE_BUFS.Descriptor.Request, ref payload);
            payload.memory = memory;
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
            var query = new v4l2_buffer { index = (uint)queue.Buffers.Count, type = queue.Type, memory = queue.HostMemory };
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
                buffer.Shared[plane] = Session.Endpoint.Mmap.Allocate(Session, buffer.HostLength[plane]);
                if (buffer.Shared[plane] is null)
                {
                    return Constants.ENOMEM;
                }
                if (!TryShareInPlace(queue, buffer, (uint)queue.Buffers.Count - 1, plane))
                {
                    buffer.HostMap[plane] = _node.Map(buffer.HostOffset[plane], buffer.HostLength[plane]);
                    if (buffer.HostMap[plane] == IntPtr.Zero)
                    {
                        return Constants.ENOMEM;
                    }
                }
            }
        }
        return 0;
    }

    // Zero copy: the host buffer's dma-buf (VIDIOC_EXPBUF) mapped over the twin, so region 0 holds the host's pages.
    // False where the proxy was asked to copy, region 0 cannot take a file (a vhost-user back-end's, which the front-end
    // maps on its own), pages are not the allocator's 4 KiB, the host does not export (ENOTTY, EINVAL) or the dma-buf does
    // not fit the twin: the copy path serves the plane then.
    private bool TryShareInPlace(ProxyQueue queue, ProxyBuffer buffer, uint index, int plane)
    {
        var region = Session.Endpoint.Mmap.Region;
        // The allocator keeps buffers 4 KiB apart: on larger pages a mapping rounded to a page would reach the next one.
        if (!_proxy.ZeroCopy || !region.CanMapFiles || Environment.SystemPageSize != (int)MmapAllocator.PageSize || _node.Export(queue.Type, index, (uint)plane, out var fd) != 0)
        {
            return false;
        }
        try
        {
            var twin = buffer.Shared[plane]!;
            buffer.Overlay[plane] = region.MapFile(fd, 0, twin.Offset, buffer.HostLength[plane]);
            return true;
        }
        catch (Exception refused) when (refused is ArgumentException or NotSupportedException or System.IO.IOException)
        {
            return false;
        }
        finally
        {
            // The mapping holds the dma-buf; the descriptor is not needed any more.
            HostNode.CloseDescriptor(fd);
        }
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
            payload.memory = queue.HostMemory;
            status = BufferIoctl(Ioctls.VIDIOC_QUERYBUF.Descriptor.Request, ref payload, planes, queue.MultiPlanar, allPlanes: false);
            payload.memory = queue.Memory;
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
            var qbuf = request == Ioctls.VIDIOC_QBUF.Descriptor.Request;
            if (queue.Memory == Constants.V4L2_MEMORY_DMABUF && context.UuidCount != buffer.Planes)
            {
                return Constants.EINVAL; // one UUID per plane
            }
            for (var plane = 0; plane < buffer.Planes; plane++)
            {
                ref var length = ref queue.MultiPlanar ? ref planes[plane].length : ref payload.length;
                ref var m = ref queue.MultiPlanar ? ref planes[plane].m : ref Unsafe.As<v4l2_buffer_m, v4l2_plane_m>(ref payload.m);
                var bytesused = queue.MultiPlanar ? planes[plane].bytesused : payload.bytesused;
                IntPtr host;
                switch (queue.Memory)
                {
                    case Constants.V4L2_MEMORY_MMAP:
                        m.mem_offset = buffer.HostOffset[plane];
                        if (queue.Output && qbuf && buffer.Overlay[plane] is null)
                        {
                            var used = Math.Min(bytesused == 0 ? buffer.HostLength[plane] : bytesused, buffer.HostLength[plane]);
                            using (buffer.Shared[plane]!.Lease())
                            {
                                buffer.Shared[plane]!.Span[..(int)used].CopyTo(new Span<byte>((void*)buffer.HostMap[plane], (int)used));
                            }
                            copies++;
                        }
                        continue;
                    case Constants.V4L2_MEMORY_DMABUF:
                        status = TakeObject(context, buffer, plane, out host, out var objectLength);
                        if (status != 0)
                        {
                            buffer.CommitObjects(taken: false);
                            return status;
                        }
                        buffer.GuestFd[plane] = m.fd;
                        length = objectLength;
                        break;
                    default:
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
                        buffer.Direct[plane] = ScatterRanges.TryGetHostRange(context.GuestMemory, context.Message.SgList(plane), length, out host);
                        if (!buffer.Direct[plane])
                        {
                            host = buffer.BounceFor(plane, length);
                            if (queue.Output && qbuf)
                            {
                                var used = Math.Min(bytesused == 0 ? length : bytesused, length);
                                pages.TryRead(0, new Span<byte>((void*)host, (int)used));
                                copies++;
                            }
                        }
                        break;
                }
                buffer.UserPointer[plane] = host;
                m.userptr = (ulong)host;
            }
            payload.memory = queue.HostMemory;
            status = BufferIoctl(request, ref payload, planes, queue.MultiPlanar, allPlanes: false);
            payload.memory = queue.Memory;
            buffer.CommitObjects(status == 0);
            if (queue.Output && qbuf && status == 0)
            {
                _proxy.Statistics.CountFrame(buffer.PathOf(queue.Memory), copies);
            }
            ToGuestView(queue, buffer, ref payload, planes);
            return status;
        }
    }

    // VIRTIO_OBJECT: the object the guest names for a plane, held for as long as the buffer may be queued with it, and
    // the address the host reads or writes it at (the object's own memory: no copy).
    private static unsafe int TakeObject(DeviceIoctlContext context, ProxyBuffer buffer, int plane, out IntPtr host, out uint length)
    {
        host = IntPtr.Zero;
        length = 0;
        var status = ResolveObject(context.Objects, context.GetUuid(plane), buffer.HostLength[plane], out var found);
        if (status != 0)
        {
            return status;
        }
        var held = buffer.Objects[plane];
        if (held is null || held.Buffer != found.Buffer)
        {
            // Taken now, kept only once the host has the buffer (CommitObjects): a refused QBUF (the buffer already
            // queued) leaves the host on the object it had, which must stay held.
            held = buffer.PendingObjects[plane] = found.TryHold();
            if (held is null)
            {
                return Constants.EINVAL; // withdrawn and freed meanwhile
            }
        }
        if (!held.Buffer.TryGetSpan(out var span))
        {
            return Constants.EINVAL; // its region has ended (the exporting device went away)
        }
        host = (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetReference(span));
        length = (uint)Math.Min(found.Length, uint.MaxValue);
        return 0;
    }

    /// <summary>
    /// The object a VIRTIO_OBJECT plane names: EINVAL for the nil UUID, a UUID the registry does not know (never
    /// exported, or withdrawn), or an object shorter than the host's plane (its sizeimage), as a dma-buf smaller than
    /// the plane is refused by videobuf2 (and by this toolkit's own queues).
    /// </summary>
    internal static int ResolveObject(VirtioObjectRegistry objects, Guid uuid, uint hostLength, out VirtioObject found)
    {
        if (uuid == Guid.Empty || !objects.TryResolve(uuid, out found) || found.Length < hostLength || hostLength == 0)
        {
            found = default;
            return Constants.EINVAL;
        }
        return 0;
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

    // What the guest sees of a buffer: its memory type, region-0 offsets for MMAP, its own fd placeholders for
    // VIRTIO_OBJECT, no host address anywhere.
    private static void ToGuestView(ProxyQueue queue, ProxyBuffer buffer, ref v4l2_buffer payload, Span<v4l2_plane> planes)
    {
        payload.memory = queue.Memory;
        if (queue.MultiPlanar)
        {
            payload.m.planes = 0;
            for (var plane = 0; plane < buffer.Planes && plane < planes.Length; plane++)
            {
                planes[plane].m.userptr = 0;
                GuestPlaneView(queue, buffer, plane, ref planes[plane].m);
            }
        }
        else
        {
            payload.m.userptr = 0;
            GuestPlaneView(queue, buffer, 0, ref Unsafe.As<v4l2_buffer_m, v4l2_plane_m>(ref payload.m));
        }
    }

    private static void GuestPlaneView(ProxyQueue queue, ProxyBuffer buffer, int plane, ref v4l2_plane_m m)
    {
        if (queue.Memory == Constants.V4L2_MEMORY_MMAP)
        {
            m.mem_offset = buffer.Shared[plane]?.MemOffset ?? 0;
        }
        else if (queue.Memory == Constants.V4L2_MEMORY_DMABUF)
        {
            m.fd = buffer.GuestFd[plane];
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
