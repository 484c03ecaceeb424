using System;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;

namespace VirtioMedia.Tests.Runtime;

/// <summary>Full capture streams through both real endpoints and real virtqueues, one per memory type.</summary>
[TestClass]
public sealed class StreamingTests
{
    private const int Frames = 300;
    private const uint Buffers = 4;

    [TestMethod]
    public Task Streams_300_frames_into_MMAP_buffers() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        await StreamMmapAsync(session);
        await session.CloseAsync();
        Assert.AreEqual(0, rig.Device.SessionCount);
        Assert.AreEqual(0, rig.Device.Mmap.LiveBuffers, "closing and unmapping frees every MMAP buffer");
    });

    [TestMethod]
    public Task Streams_300_frames_into_SHARED_PAGES_buffers() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        var sizeImage = await Streamer.NegotiateAsync(session);
        await Streamer.RequestBuffersAsync(session, Constants.V4L2_MEMORY_USERPTR, Buffers);
        var pages = new SharedPagesBuffer[Buffers];
        for (var i = 0; i < Buffers; i++)
        {
            pages[i] = rig.Driver.AllocateSharedPages(sizeImage);
            pages[i].Fill(0xEE);
        }
        await Streamer.StreamAsync(session, session.Id, Buffers, Frames, sizeImage,
            async index =>
            {
                var userptr = 0x7F00_0000_0000UL + index * 0x10_0000UL;
                var buffer = new v4l2_buffer { index = index, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_USERPTR, length = sizeImage };
                buffer.m.userptr = userptr;
                var queued = await session.VIDIOC_QBUF(buffer, new IoctlExtras { SgEntries = pages[index].SgEntries });
                Assert.AreEqual(0, queued.Status);
                Assert.AreEqual(userptr, queued.Payload.m.userptr);
            },
            (index, frame) => pages[index].CopyTo(frame));
        await session.CloseAsync();
        foreach (var buffer in pages)
        {
            buffer.Dispose();
        }
    });

    [TestMethod]
    public Task Streams_300_frames_into_VIRTIO_OBJECT_buffers_exported_by_another_device() => Streamer.Guard(async () =>
    {
        // Two device instances share one registry: the exporter's MMAP buffers become the capture device's objects.
        var registry = new VirtioObjectRegistry();
        await using var exporterRig = RuntimeRig.Start(objects: registry);
        await using var captureRig = RuntimeRig.Start(objects: registry);
        var exporter = await exporterRig.Driver.OpenSessionAsync();
        var sizeImage = await Streamer.NegotiateAsync(exporter);
        await Streamer.RequestBuffersAsync(exporter, Constants.V4L2_MEMORY_MMAP, Buffers);
        var uuids = new byte[Buffers][];
        var views = new MappedBuffer[Buffers];
        for (uint i = 0; i < Buffers; i++)
        {
            uuids[i] = new byte[16];
            var exported = await exporter.VIDIOC_EXPBUF(new v4l2_exportbuffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, index = i, fd = 1234 }, new IoctlExtras { Uuids = uuids[i] });
            Assert.AreEqual(0, exported.Status);
            Assert.AreEqual(1234, exported.Payload.fd, "the fd placeholder is left unchanged");
            Assert.AreNotEqual(Guid.Empty, new Guid(uuids[i]));
            var info = await exporter.VIDIOC_QUERYBUF(new v4l2_buffer { index = i, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP });
            views[i] = await exporter.MapAsync(info.Payload.m.offset, writable: false);
        }

        var capture = await captureRig.Driver.OpenSessionAsync();
        Assert.AreEqual(sizeImage, await Streamer.NegotiateAsync(capture));
        await Streamer.RequestBuffersAsync(capture, Constants.V4L2_MEMORY_DMABUF, Buffers);
        await Streamer.StreamAsync(capture, capture.Id, Buffers, Frames, sizeImage,
            async index =>
            {
                var buffer = new v4l2_buffer { index = index, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_DMABUF, length = sizeImage };
                buffer.m.fd = 77;
                var queued = await capture.VIDIOC_QBUF(buffer, new IoctlExtras { Uuids = uuids[index] });
                Assert.AreEqual(0, queued.Status);
                Assert.AreEqual(77, queued.Payload.m.fd);
            },
            (index, frame) => views[index].Span.CopyTo(frame));
        await capture.CloseAsync();
        foreach (var view in views)
        {
            await exporterRig.Driver.UnmapAsync(view);
        }
        await exporter.CloseAsync();
    });

    internal static async Task StreamMmapAsync(DriverSession session, int frames = Frames)
    {
        var sizeImage = await Streamer.NegotiateAsync(session);
        await Streamer.RequestBuffersAsync(session, Constants.V4L2_MEMORY_MMAP, Buffers);
        var maps = new MappedBuffer[Buffers];
        for (uint i = 0; i < Buffers; i++)
        {
            var info = await session.VIDIOC_QUERYBUF(new v4l2_buffer { index = i, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP });
            Assert.AreEqual(0, info.Status);
            Assert.AreEqual(sizeImage, info.Payload.length);
            maps[i] = await session.MapAsync(info.Payload.m.offset);
            Assert.AreEqual((ulong)sizeImage, maps[i].Length);
        }
        await Streamer.StreamAsync(session, session.Id, Buffers, frames, sizeImage,
            async index =>
            {
                var queued = await session.VIDIOC_QBUF(new v4l2_buffer { index = index, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP });
                Assert.AreEqual(0, queued.Status);
            },
            (index, frame) => maps[index].Span.Slice(0, frame.Length).CopyTo(frame));
        Assert.AreEqual(0, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP, count = 0 })).Status);
        foreach (var map in maps)
        {
            await session.Endpoint.UnmapAsync(map);
        }
    }
}
