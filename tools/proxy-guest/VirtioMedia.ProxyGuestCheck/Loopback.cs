using System;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Proxy;
using VirtioMedia.Runtime.Driver;

namespace VirtioMedia.ProxyGuestCheck;

/// <summary>
/// Output frames checked through vivid's video loop: with "Loop Video" on, an S-Video capture input shows what the
/// S-Video output of the same instance is sent (same format, field and 625/525-line family). The frames an output
/// pattern gives on the capture side, read directly, are the anchor; the same pattern sent through the proxy must give
/// the same captured bytes, and another pattern must give others (so the capture does show the output).
/// </summary>
internal static class Loopback
{
    private const uint Buffers = 4;
    private const int Frames = 12;

    /// <summary>Loop Video on, the OSD text off, and the same format on both nodes; the format.</summary>
    public static v4l2_format Prepare(string capture, string output)
    {
        using var node = HostNode.Open(capture);
        foreach (var (control, value) in new[] { ("Loop Video", 1), ("OSD Text Mode", -1) })
        {
            var id = Vivid.FindControl(node, control);
            var set = value >= 0 ? value : Vivid.FindMenuItem(node, id, "None");
            if (id == 0 || set < 0 || Vivid.SetControl(node, id, set) != 0)
            {
                throw new InvalidOperationException($"vivid's control '{control}' could not be set on {capture}");
            }
        }
        var format = new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
        Vivid.Check(node.Ioctl(Ioctls.VIDIOC_G_FMT.Descriptor.Request, ref format), "G_FMT");
        // Interlaced frames carry both fields in one buffer; ALTERNATE would make the output name a field per buffer.
        format.fmt.pix.pixelformat = Constants.V4L2_PIX_FMT_YUYV;
        format.fmt.pix.field = Constants.V4L2_FIELD_INTERLACED;
        Vivid.Check(node.Ioctl(Ioctls.VIDIOC_S_FMT.Descriptor.Request, ref format), "S_FMT");
        using var sink = HostNode.Open(output);
        var wanted = OutputFormat(format);
        var granted = wanted;
        Vivid.Check(sink.Ioctl(Ioctls.VIDIOC_S_FMT.Descriptor.Request, ref granted), "S_FMT (output)");
        if (granted.fmt.pix.width != wanted.fmt.pix.width || granted.fmt.pix.height != wanted.fmt.pix.height
            || granted.fmt.pix.pixelformat != wanted.fmt.pix.pixelformat || granted.fmt.pix.field != wanted.fmt.pix.field)
        {
            throw new InvalidOperationException($"the output node took {granted.fmt.pix.width}x{granted.fmt.pix.height} field {granted.fmt.pix.field}, not the capture's {wanted.fmt.pix.width}x{wanted.fmt.pix.height} field {wanted.fmt.pix.field}");
        }
        return format;
    }

    public static v4l2_format OutputFormat(v4l2_format capture)
    {
        var format = capture;
        format.type = Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT;
        return format;
    }

    /// <summary>A frame no capture pattern looks like, different for each <paramref name="seed"/>.</summary>
    public static byte[] Pattern(uint sizeImage, int seed)
    {
        var frame = new byte[sizeImage];
        for (var i = 0; i < frame.Length; i++)
        {
            frame[i] = (byte)((i * 7) + (i / 1440 * 13) + (seed * 101));
        }
        return frame;
    }

    /// <summary>What the capture node shows while <paramref name="feed"/> keeps the output node fed: the last of its frames
    /// after the queues settled, and how many of those differed from the first.</summary>
    public static async Task<CaptureResult> CaptureWhileAsync(string capture, v4l2_format format, Func<Action, CancellationToken, Task> feed)
    {
        using var stop = new CancellationTokenSource();
        var flowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var feeding = Task.Run(() => feed(() => flowing.TrySetResult(), stop.Token));
        try
        {
            // The capture starts once the output has given back buffers: vivid then loops a frame of the pattern.
            if (await Task.WhenAny(flowing.Task, feeding, Task.Delay(TimeSpan.FromSeconds(20))) != flowing.Task)
            {
                throw new TimeoutException("the output gave back no buffer within 20 s");
            }
            var result = await Task.Run(() => Vivid.Capture(capture, format, Frames));
            if (feeding.IsFaulted)
            {
                await feeding;
            }
            return result;
        }
        finally
        {
            stop.Cancel();
            await feeding.ContinueWith(_ => { }, TaskScheduler.Default);
            if (feeding.IsFaulted)
            {
                throw new InvalidOperationException($"feeding the output failed: {feeding.Exception!.InnerException!.Message}", feeding.Exception.InnerException);
            }
        }
    }

    /// <summary>Keeps the output node fed with <paramref name="frame"/> straight from the node (MMAP), until cancelled.</summary>
    public static unsafe void FeedDirect(string output, v4l2_format capture, byte[] frame, Action flowing, CancellationToken stop)
    {
        using var node = HostNode.Open(output);
        var format = OutputFormat(capture);
        Vivid.Check(node.Ioctl(Ioctls.VIDIOC_S_FMT.Descriptor.Request, ref format), "S_FMT (output)");
        var request = new v4l2_requestbuffers { count = Buffers, type = Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT, memory = Constants.V4L2_MEMORY_MMAP };
        Vivid.Check(node.Ioctl(Ioctls.VIDIOC_REQBUFS.Descriptor.Request, ref request), "REQBUFS (output)");
        var maps = new (IntPtr Address, uint Length)[request.count];
        try
        {
            for (uint i = 0; i < request.count; i++)
            {
                var buffer = new v4l2_buffer { index = i, type = Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT, memory = Constants.V4L2_MEMORY_MMAP };
                Vivid.Check(node.Ioctl(Ioctls.VIDIOC_QUERYBUF.Descriptor.Request, ref buffer), "QUERYBUF (output)");
                maps[i] = (node.Map(buffer.m.offset, buffer.length), buffer.length);
                frame.AsSpan(0, (int)Math.Min(frame.Length, buffer.length)).CopyTo(new Span<byte>((void*)maps[i].Address, (int)buffer.length));
                buffer.bytesused = (uint)Math.Min(frame.Length, buffer.length);
                buffer.field = format.fmt.pix.field;
                Vivid.Check(node.Ioctl(Ioctls.VIDIOC_QBUF.Descriptor.Request, ref buffer), "QBUF (output)");
            }
            var type = (int)Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT;
            Vivid.Check(node.Ioctl(Ioctls.VIDIOC_STREAMON.Descriptor.Request, ref type), "STREAMON (output)");
            var given = 0;
            while (!stop.IsCancellationRequested)
            {
                if ((node.Poll(HostNode.POLLOUT, 100) & HostNode.POLLOUT) == 0)
                {
                    continue;
                }
                var buffer = new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT, memory = Constants.V4L2_MEMORY_MMAP };
                if (node.Ioctl(Ioctls.VIDIOC_DQBUF.Descriptor.Request, ref buffer) == 0)
                {
                    if (++given == 2)
                    {
                        flowing();
                    }
                    buffer.bytesused = (uint)Math.Min(frame.Length, maps[buffer.index].Length);
                    buffer.field = format.fmt.pix.field;
                    Vivid.Check(node.Ioctl(Ioctls.VIDIOC_QBUF.Descriptor.Request, ref buffer), "QBUF (output)");
                }
            }
            node.Ioctl(Ioctls.VIDIOC_STREAMOFF.Descriptor.Request, ref type);
        }
        finally
        {
            foreach (var (address, length) in maps)
            {
                if (address != IntPtr.Zero)
                {
                    HostNode.Unmap(address, length);
                }
            }
        }
    }

    /// <summary>Keeps the output node fed with <paramref name="frame"/> through the proxy, in <paramref name="memory"/>
    /// buffers (SHARED_PAGES laid out as <paramref name="layout"/>), until cancelled.</summary>
    public static async Task FeedProxiedAsync(ProxiedNode node, uint memory, SharedPagesLayout layout, v4l2_format capture, byte[] frame, Action flowing, CancellationToken stop)
    {
        var session = await node.Driver.OpenSessionAsync();
        var maps = new MappedBuffer?[Buffers];
        var pages = new SharedPagesBuffer?[Buffers];
        try
        {
            var format = await session.VIDIOC_S_FMT(OutputFormat(capture));
            ProxiedNode.Check(format.Status, "S_FMT (output)");
            var sizeImage = format.Payload.fmt.pix.sizeimage;
            var request = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = Buffers, type = Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT, memory = memory });
            ProxiedNode.Check(request.Status, "REQBUFS (output)");
            var used = (uint)Math.Min(frame.Length, sizeImage);
            for (uint i = 0; i < Math.Min(request.Payload.count, Buffers); i++)
            {
                if (memory == Constants.V4L2_MEMORY_MMAP)
                {
                    var info = await session.VIDIOC_QUERYBUF(new v4l2_buffer { index = i, type = Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT, memory = memory });
                    ProxiedNode.Check(info.Status, "QUERYBUF (output)");
                    maps[i] = await session.MapAsync(info.Payload.m.offset, writable: true);
                    frame.AsSpan(0, (int)used).CopyTo(maps[i]!.Span);
                }
                else
                {
                    pages[i] = node.Driver.AllocateSharedPages(sizeImage, layout);
                    pages[i]!.CopyFrom(frame.AsSpan(0, (int)used));
                }
                ProxiedNode.Check(await QueueAsync(session, memory, i, sizeImage, used, capture.fmt.pix.field, pages), "QBUF (output)");
            }
            ProxiedNode.Check((await session.VIDIOC_STREAMON((int)Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT)).Status, "STREAMON (output)");
            var given = 0;
            while (!stop.IsCancellationRequested)
            {
                if (given++ == 2)
                {
                    flowing();
                }
                DequeuedBuffer done;
                try
                {
                    done = await session.DequeuedBuffers.ReadAsync(stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                ProxiedNode.Check(await QueueAsync(session, memory, done.Buffer.index, sizeImage, used, capture.fmt.pix.field, pages), "QBUF (output)");
            }
            await session.VIDIOC_STREAMOFF((int)Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT);
            await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 0, type = Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT, memory = memory });
        }
        finally
        {
            foreach (var map in maps)
            {
                if (map is not null)
                {
                    await node.Driver.UnmapAsync(map);
                }
            }
            foreach (var buffer in pages)
            {
                buffer?.Dispose();
            }
            await session.CloseAsync();
        }
    }

    private static async Task<int> QueueAsync(DriverSession session, uint memory, uint index, uint sizeImage, uint used, uint field, SharedPagesBuffer?[] pages)
    {
        var buffer = new v4l2_buffer { index = index, type = Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT, memory = memory, bytesused = used, field = field };
        IoctlExtras? extras = null;
        if (memory == Constants.V4L2_MEMORY_USERPTR)
        {
            buffer.length = sizeImage;
            extras = new IoctlExtras { SgEntries = pages[index]!.SgEntries };
        }
        return (await session.VIDIOC_QBUF(buffer, extras)).Status;
    }
}
