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

    /// <summary>Serves <paramref name="path"/>; <paramref name="zeroCopy"/> false makes every MMAP frame take the copy path.</summary>
    public static ProxiedNode Start(string path, bool zeroCopy = true)
    {
        var proxy = new V4l2Proxy(path, zeroCopy);
        // Room for four 1280x720 YUYV frames on either side.
        var transport = new InProcessTransport(guestMemorySize: 64 << 20, sharedMemorySize: 64 << 20);
        var device = proxy.CreateEndpoint(transport);
        transport.Config = device.Config;
        var driver = DriverEndpoint.Start(transport.Driver, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(10) });
        device.Start();
        return new ProxiedNode(proxy, transport, device, driver);
    }

    /// <summary>
    /// Streams <paramref name="frames"/> frames of <paramref name="memory"/>: MMAP, USERPTR (the wire's SHARED_PAGES) or
    /// DMABUF (VIRTIO_OBJECT: the objects are MMAP buffers a second session of the proxy exports with VIDIOC_EXPBUF, and
    /// the frames are read through that session's mappings of them).
    /// </summary>
    public async Task<CaptureResult> CaptureAsync(uint memory, uint width, uint height, int frames, Func<DriverSession, Task>? whileStreaming = null)
    {
        var session = await Driver.OpenSessionAsync();
        try
        {
            var maps = Array.Empty<MappedBuffer>();
            var format = await session.VIDIOC_S_FMT(Formats.Request(width, height));
            Check(format.Status, "S_FMT");
            await session.VIDIOC_S_PARM(Formats.FastestInterval());
            var sizeImage = format.Payload.fmt.pix.sizeimage;
            (byte[][] Uuids, MappedBuffer[] Maps)? objects = memory == Constants.V4L2_MEMORY_DMABUF ? await ExportAsync() : null;
            if (objects is not null)
            {
                maps = objects.Value.Maps;
            }
            var request = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 4, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = memory });
            Check(request.Status, "REQBUFS");
            if (memory == Constants.V4L2_MEMORY_DMABUF && (request.Payload.capabilities & Constants.V4L2_BUF_CAP_SUPPORTS_DMABUF) == 0)
            {
                throw new InvalidOperationException($"REQBUFS(DMABUF) succeeded but capabilities 0x{request.Payload.capabilities:x} lack V4L2_BUF_CAP_SUPPORTS_DMABUF");
            }
            var count = Math.Min(request.Payload.count, objects is { } exported ? (uint)exported.Uuids.Length : uint.MaxValue);
            if (memory == Constants.V4L2_MEMORY_MMAP)
            {
                maps = new MappedBuffer[count];
            }
            var pages = new SharedPagesBuffer[count];
            for (uint i = 0; i < count; i++)
            {
                if (memory == Constants.V4L2_MEMORY_MMAP)
                {
                    var info = await session.VIDIOC_QUERYBUF(new v4l2_buffer { index = i, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = memory });
                    Check(info.Status, "QUERYBUF");
                    maps[i] = await session.MapAsync(info.Payload.m.offset, writable: false);
                }
                else if (memory == Constants.V4L2_MEMORY_USERPTR)
                {
                    pages[i] = Driver.AllocateSharedPages(sizeImage);
                }
                Check(await QueueAsync(session, memory, i, sizeImage, pages, objects?.Uuids), "QBUF");
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
                if (memory == Constants.V4L2_MEMORY_USERPTR)
                {
                    pages[index].CopyTo(frame);
                }
                else
                {
                    maps[index].Span[..used].CopyTo(frame);
                }
                var timestamp = done.Buffer.timestamp;
                result.Add(in timestamp, frame.AsSpan(0, used));
                var requeued = await QueueAsync(session, memory, index, sizeImage, pages, objects?.Uuids);
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

    // The VIRTIO_OBJECTs: a second session allocates MMAP buffers, maps them, exports each (EXPBUF answers its UUID and
    // leaves the fd placeholder alone), then frees them: vivid's queue has one owner at a time, and an export and a
    // mapping outlive REQBUFS(0) as a dma-buf and a mapping do in V4L2. Its session stays open, which keeps the exports.
    private async Task<(byte[][] Uuids, MappedBuffer[] Maps)> ExportAsync()
    {
        var exporter = await Driver.OpenSessionAsync();
        var request = await exporter.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 4, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP });
        Check(request.Status, "REQBUFS(MMAP) of the exporting session");
        var uuids = new byte[request.Payload.count][];
        var maps = new MappedBuffer[request.Payload.count];
        for (uint i = 0; i < request.Payload.count; i++)
        {
            var info = await exporter.VIDIOC_QUERYBUF(new v4l2_buffer { index = i, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP });
            Check(info.Status, "QUERYBUF of the exporting session");
            maps[i] = await exporter.MapAsync(info.Payload.m.offset, writable: false);
            uuids[i] = new byte[16];
            const int Placeholder = 1234;
            var export = await exporter.VIDIOC_EXPBUF(new v4l2_exportbuffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, index = i, fd = Placeholder }, new IoctlExtras { Uuids = uuids[i] });
            Check(export.Status, $"EXPBUF of buffer {i}");
            if (Array.TrueForAll(uuids[i], b => b == 0) || export.Payload.fd != Placeholder)
            {
                throw new InvalidOperationException($"EXPBUF of buffer {i} answered UUID {Convert.ToHexString(uuids[i])} and fd {export.Payload.fd} (sent {Placeholder})");
            }
        }
        Check((await exporter.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 0, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP })).Status, "REQBUFS(0) of the exporting session");
        return (uuids, maps);
    }

    /// <summary>
    /// EXPBUF and VIRTIO_OBJECT rules through the proxy on a real queue: EINVAL for a queue without buffers, an index or
    /// plane past the last, flags beyond O_CLOEXEC and the access mode (as videobuf2 answers); one UUID per buffer, the
    /// same on a second export; DMABUF announced in the capabilities; QBUF of an unknown or nil UUID refused with EINVAL.
    /// </summary>
    public async Task<string> ExportChecksAsync()
    {
        const uint Capture = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE;
        var session = await Driver.OpenSessionAsync();
        try
        {
            Check((await session.VIDIOC_S_FMT(Formats.Request(640, 360))).Status, "S_FMT");
            async Task<(int Status, byte[] Uuid)> Export(uint index, uint plane = 0, uint flags = 0)
            {
                var uuid = new byte[16];
                var answer = await session.VIDIOC_EXPBUF(new v4l2_exportbuffer { type = Capture, index = index, plane = plane, flags = flags }, new IoctlExtras { Uuids = uuid });
                return (answer.Status, uuid);
            }
            Expect((await Export(0)).Status, Constants.EINVAL, "EXPBUF before REQBUFS");
            var request = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 2, type = Capture, memory = Constants.V4L2_MEMORY_MMAP });
            Check(request.Status, "REQBUFS(MMAP)");
            if ((request.Payload.capabilities & Constants.V4L2_BUF_CAP_SUPPORTS_DMABUF) == 0)
            {
                throw new InvalidOperationException($"capabilities 0x{request.Payload.capabilities:x} lack V4L2_BUF_CAP_SUPPORTS_DMABUF");
            }
            var count = request.Payload.count;
            Expect((await Export(count)).Status, Constants.EINVAL, "EXPBUF past the last buffer");
            Expect((await Export(0, plane: 1)).Status, Constants.EINVAL, "EXPBUF of plane 1 of a single-planar buffer");
            Expect((await Export(0, flags: 0x40)).Status, Constants.EINVAL, "EXPBUF with O_CREAT");
            var first = await Export(0, flags: 0x80002); // O_CLOEXEC | O_RDWR
            Check(first.Status, "EXPBUF of buffer 0");
            var again = await Export(0);
            var other = await Export(1);
            Check(again.Status | other.Status, "EXPBUF again");
            if (!again.Uuid.AsSpan().SequenceEqual(first.Uuid) || other.Uuid.AsSpan().SequenceEqual(first.Uuid) || Array.TrueForAll(first.Uuid, b => b == 0))
            {
                throw new InvalidOperationException($"EXPBUF UUIDs: buffer 0 {Convert.ToHexString(first.Uuid)} then {Convert.ToHexString(again.Uuid)}, buffer 1 {Convert.ToHexString(other.Uuid)}");
            }
            Check((await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 0, type = Capture, memory = Constants.V4L2_MEMORY_MMAP })).Status, "REQBUFS(0)");
            var imported = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 2, type = Capture, memory = Constants.V4L2_MEMORY_DMABUF });
            Check(imported.Status, "REQBUFS(DMABUF)");
            async Task<int> Queue(byte[] uuid) =>
                (await session.VIDIOC_QBUF(new v4l2_buffer { index = 0, type = Capture, memory = Constants.V4L2_MEMORY_DMABUF }, new IoctlExtras { Uuids = uuid })).Status;
            Expect(await Queue(Guid.NewGuid().ToByteArray()), Constants.EINVAL, "QBUF of a UUID never exported");
            Expect(await Queue(new byte[16]), Constants.EINVAL, "QBUF of the nil UUID");
            // The export outlives REQBUFS(0) of its buffer, as a dma-buf outlives its V4L2 buffer.
            Check(await Queue(first.Uuid), "QBUF of the exported buffer 0");
            Check((await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 0, type = Capture, memory = Constants.V4L2_MEMORY_DMABUF })).Status, "REQBUFS(0) of DMABUF");
            return $"EXPBUF and VIRTIO_OBJECT rules hold on {count} buffers; capabilities 0x{imported.Payload.capabilities:x}";
        }
        finally
        {
            await session.CloseAsync();
        }
    }

    private static void Expect(int status, int expected, string what)
    {
        if (status != expected)
        {
            throw new InvalidOperationException($"{what} through the proxy answered errno {status}, expected {expected}");
        }
    }

    private static async Task<int> QueueAsync(DriverSession session, uint memory, uint index, uint sizeImage, SharedPagesBuffer[] pages, byte[][]? uuids)
    {
        var buffer = new v4l2_buffer { index = index, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = memory };
        IoctlExtras? extras = null;
        if (memory == Constants.V4L2_MEMORY_USERPTR)
        {
            buffer.length = sizeImage;
            extras = new IoctlExtras { SgEntries = pages[index].SgEntries };
        }
        else if (memory == Constants.V4L2_MEMORY_DMABUF)
        {
            // The fd placeholder must come back unchanged (virtio-media, Virtio Object).
            buffer.m.fd = (int)(100 + index);
            extras = new IoctlExtras { Uuids = uuids![index] };
        }
        var answer = await session.VIDIOC_QBUF(buffer, extras);
        if (answer.Status == 0 && memory == Constants.V4L2_MEMORY_DMABUF && answer.Payload.m.fd != (int)(100 + index))
        {
            throw new InvalidOperationException($"QBUF(VIRTIO_OBJECT {index}) answered fd {answer.Payload.m.fd}, sent {100 + index}");
        }
        return answer.Status;
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
