using System;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Proxy;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.ProxyGuestCheck;

/// <summary>A host node served by the proxy over an in-process transport, with the toolkit's driver side in front.</summary>
internal sealed class ProxiedNode : IAsyncDisposable
{
    private ProxiedNode(V4l2Proxy proxy, InProcessTransport transport, DeviceEndpoint device, DriverEndpoint driver)
    {
        Proxy = proxy;
        Transport = transport;
        Device = device;
        Driver = driver;
    }

    public V4l2Proxy Proxy { get; }

    public InProcessTransport Transport { get; }

    public DeviceEndpoint Device { get; }

    public DriverEndpoint Driver { get; }

    public static ProxiedNode Start(string path)
    {
        var proxy = new V4l2Proxy(path);
        // Room for four 1280x720 YUYV frames on either side.
        var transport = new InProcessTransport(guestMemorySize: 64 << 20, sharedMemorySize: 64 << 20);
        var device = proxy.CreateEndpoint(transport);
        transport.Config = device.Config;
        var driver = DriverEndpoint.Start(transport.Driver, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(10) });
        device.Start();
        return new ProxiedNode(proxy, transport, device, driver);
    }

    /// <summary>Streams <paramref name="frames"/> frames of <paramref name="memory"/> (MMAP or USERPTR, the wire's SHARED_PAGES).</summary>
    public async Task<CaptureResult> CaptureAsync(uint memory, uint width, uint height, int frames, Func<DriverSession, Task>? whileStreaming = null)
    {
        var session = await Driver.OpenSessionAsync();
        try
        {
            var format = await session.VIDIOC_S_FMT(Formats.Request(width, height));
            Check(format.Status, "S_FMT");
            await session.VIDIOC_S_PARM(Formats.FastestInterval());
            var sizeImage = format.Payload.fmt.pix.sizeimage;
            var request = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 4, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = memory });
            Check(request.Status, "REQBUFS");
            var count = request.Payload.count;
            var maps = new MappedBuffer[count];
            var pages = new SharedPagesBuffer[count];
            for (uint i = 0; i < count; i++)
            {
                if (memory == Constants.V4L2_MEMORY_MMAP)
                {
                    var info = await session.VIDIOC_QUERYBUF(new v4l2_buffer { index = i, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = memory });
                    Check(info.Status, "QUERYBUF");
                    maps[i] = await session.MapAsync(info.Payload.m.offset, writable: false);
                }
                else
                {
                    pages[i] = Driver.AllocateSharedPages(sizeImage);
                }
                Check(await QueueAsync(session, memory, i, sizeImage, pages), "QBUF");
            }
            Check((await session.VIDIOC_STREAMON((int)Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE)).Status, "STREAMON");
            var result = new CaptureResult(sizeImage);
            var frame = new byte[sizeImage];
            Task? side = null;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (result.Frames < frames)
            {
                var done = await session.DequeuedBuffers.ReadAsync(timeout.Token);
                var index = done.Buffer.index;
                var used = (int)Math.Min(done.Buffer.bytesused, sizeImage);
                if (memory == Constants.V4L2_MEMORY_MMAP)
                {
                    maps[index].Span[..used].CopyTo(frame);
                }
                else
                {
                    pages[index].CopyTo(frame);
                }
                var timestamp = done.Buffer.timestamp;
                result.Add(in timestamp, frame.AsSpan(0, used));
                var requeued = await QueueAsync(session, memory, index, sizeImage, pages);
                // Once the side action runs (an unplug), a refused QBUF is expected: the ERROR event ends the stream.
                if (side is null)
                {
                    Check(requeued, "QBUF");
                }
                if (whileStreaming is not null && result.Frames == 3)
                {
                    side = whileStreaming(session);
                }
            }
            result.Finish();
            if (side is not null)
            {
                await side;
            }
            await session.VIDIOC_STREAMOFF((int)Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE);
            await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 0, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = memory });
            foreach (var map in maps)
            {
                if (map is not null)
                {
                    await Driver.UnmapAsync(map);
                }
            }
            foreach (var buffer in pages)
            {
                buffer?.Dispose();
            }
            return result;
        }
        finally
        {
            await session.CloseAsync();
        }
    }

    private static async Task<int> QueueAsync(DriverSession session, uint memory, uint index, uint sizeImage, SharedPagesBuffer[] pages)
    {
        var buffer = new v4l2_buffer { index = index, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = memory };
        IoctlExtras? extras = null;
        if (memory == Constants.V4L2_MEMORY_USERPTR)
        {
            buffer.length = sizeImage;
            extras = new IoctlExtras { SgEntries = pages[index].SgEntries };
        }
        return (await session.VIDIOC_QBUF(buffer, extras)).Status;
    }

    public static void Check(int status, string what)
    {
        if (status != 0)
        {
            throw new InvalidOperationException($"{what} through the proxy failed with errno {status}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Driver.DisposeAsync();
        await Device.DisposeAsync();
        Transport.Dispose();
    }
}
