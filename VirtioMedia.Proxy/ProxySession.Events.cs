using System;
using System.Threading;
using VirtioMedia.Abi;

namespace VirtioMedia.Proxy;

// The poll thread: finished buffers become DQBUF events (after the copy their memory path needs), V4L2 events become
// EVENT events, and a node that goes away becomes one ERROR event, after which the thread ends.
public sealed partial class ProxySession
{
    /// <summary>How long one poll(2) waits, so a closing session's thread ends within it.</summary>
    internal const int PollIntervalMilliseconds = 50;

    private readonly v4l2_plane[] _dequeuedPlanes = new v4l2_plane[Constants.VIDEO_MAX_PLANES];

    private void PollLoop()
    {
        while (!_stopping)
        {
            short wanted = HostNode.POLLPRI;
            lock (_gate)
            {
                foreach (var queue in _queues.Values)
                {
                    if (queue.Streaming)
                    {
                        wanted |= queue.Output ? HostNode.POLLOUT : HostNode.POLLIN;
                    }
                }
            }
            var ready = _node.Poll(wanted, PollIntervalMilliseconds);
            if (_stopping)
            {
                return;
            }
            if ((ready & (HostNode.POLLHUP | HostNode.POLLNVAL)) != 0)
            {
                // v4l2-dev.c, v4l2_poll: an unregistered node answers EPOLLERR | EPOLLHUP.
                Session.RaiseError(Constants.ENODEV);
                return;
            }
            if ((ready & HostNode.POLLPRI) != 0 && DrainEvents() is var eventStatus && IsFatal(eventStatus))
            {
                Session.RaiseError(eventStatus);
                return;
            }
            if ((ready & (HostNode.POLLIN | HostNode.POLLOUT | HostNode.POLLERR)) != 0)
            {
                var status = DrainBuffers(out var dequeued);
                if (IsFatal(status))
                {
                    Session.RaiseError(status);
                    return;
                }
                if (dequeued == 0 && (ready & (HostNode.POLLIN | HostNode.POLLOUT)) == 0)
                {
                    // vb2_core_poll answers EPOLLERR while a capture queue waits for its first buffer: not an error.
                    Thread.Sleep(5);
                }
            }
        }
    }

    // ENODEV: the node was unregistered (v4l2-dev.c answers every ioctl so); EIO from DQBUF: vb2_queue_error was called
    // (the driver declared the queue dead, as vivid's disconnect does).
    private static bool IsFatal(int status) => status is Constants.ENODEV or Constants.EIO;

    private int DrainEvents()
    {
        while (!_stopping)
        {
            var payload = default(v4l2_event);
            var status = Forward(Ioctls.VIDIOC_DQEVENT.Descriptor.Request, ref payload);
            if (status != 0)
            {
                return status == Constants.ENOENT || status == Constants.EAGAIN ? 0 : status;
            }
            Session.EmitEvent(in payload);
        }
        return 0;
    }

    private int DrainBuffers(out int dequeued)
    {
        dequeued = 0;
        lock (_gate)
        {
            foreach (var queue in _queues.Values)
            {
                if (!queue.Streaming)
                {
                    continue;
                }
                while (true)
                {
                    var payload = new v4l2_buffer { type = queue.Type, memory = queue.HostMemory };
                    Span<v4l2_plane> planes = _dequeuedPlanes;
                    planes.Clear();
                    var status = BufferIoctl(Ioctls.VIDIOC_DQBUF.Descriptor.Request, ref payload, planes, queue.MultiPlanar, allPlanes: true);
                    if (status == Constants.EAGAIN || status == Constants.EINVAL || status == Constants.EPIPE)
                    {
                        break; // nothing done (EPIPE: the last buffer of a codec was dequeued)
                    }
                    if (status != 0)
                    {
                        return status;
                    }
                    if (payload.index >= (uint)queue.Buffers.Count)
                    {
                        return Constants.EIO;
                    }
                    var buffer = queue.Buffers[(int)payload.index];
                    var copies = queue.Output ? 0 : CopyToGuest(queue, buffer, in payload, planes);
                    if (!queue.Output)
                    {
                        _proxy.Statistics.CountFrame(buffer.PathOf(queue.Memory), copies);
                    }
                    ToGuestView(queue, buffer, ref payload, planes);
                    Session.EmitDqbuf(in payload, queue.MultiPlanar ? planes[..buffer.Planes] : ReadOnlySpan<v4l2_plane>.Empty);
                    dequeued++;
                }
            }
        }
        return 0;
    }

    // A captured frame reaches the guest's memory: MMAP from the host mapping into region 0 (none when the twin is the
    // host buffer's dma-buf), SHARED_PAGES from the bounce buffer into the guest pages (none when the host wrote the pages
    // in place), VIRTIO_OBJECT never (the host wrote the object's memory). Returns the copies made.
    private static unsafe int CopyToGuest(ProxyQueue queue, ProxyBuffer buffer, in v4l2_buffer payload, ReadOnlySpan<v4l2_plane> planes)
    {
        var copies = 0;
        for (var plane = 0; plane < buffer.Planes; plane++)
        {
            var used = queue.MultiPlanar ? planes[plane].bytesused : payload.bytesused;
            if (queue.Memory == Constants.V4L2_MEMORY_MMAP && buffer.Overlay[plane] is null)
            {
                used = Math.Min(used, buffer.HostLength[plane]);
                // On the poll thread, outside any command: the lease keeps region 0 mapped during the copy.
                using (buffer.Shared[plane]!.Lease())
                {
                    new ReadOnlySpan<byte>((void*)buffer.HostMap[plane], (int)used).CopyTo(buffer.Shared[plane]!.Span);
                }
                copies++;
            }
            else if (queue.Memory == Constants.V4L2_MEMORY_USERPTR && !buffer.Direct[plane] && buffer.Pages[plane] is { } pages)
            {
                used = (uint)Math.Min(used, Math.Min(buffer.BounceLength[plane], pages.Length));
                pages.TryWrite(0, new ReadOnlySpan<byte>((void*)buffer.Bounce[plane], (int)used));
                copies++;
            }
        }
        return copies;
    }
}
