using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// One test per normative statement of the specification (../shared/spec/README.md lists them), each named after
/// it, running the real device and driver endpoints over the in-process transport.
/// </summary>
[TestClass]
public sealed class NormativeStatementTests
{
    // ---- device ----

    [TestMethod]
    public Task Device_OpenDevice_a_new_session_id_is_not_used_by_any_other_open_session() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        var open = (await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => rig.Driver.OpenSessionAsync().AsTask()))).ToList();
        Assert.AreEqual(24, open.Select(s => s.Id).Distinct().Count());
        foreach (var session in open.Where((_, i) => i % 3 == 0).ToList())
        {
            await session.CloseAsync();
            open.Remove(session);
        }
        open.AddRange(await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => rig.Driver.OpenSessionAsync().AsTask())));
        Assert.AreEqual(open.Count, open.Select(s => s.Id).Distinct().Count(), "every open session has its own id");
    });

    [TestMethod]
    public Task Device_V4l2Ioctls_on_success_the_payload_is_always_written_back() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        // G_FMT sends only the type; width, height and sizeimage can only come from the device-writable part.
        var result = await session.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE });
        Assert.AreEqual(0, result.Status);
        Assert.AreEqual(64u, result.Payload.fmt.pix.width);
        Assert.AreEqual(32u, result.Payload.fmt.pix.height);
        Assert.AreEqual(64u * 32u, result.Payload.fmt.pix.sizeimage);
    });

    [TestMethod]
    public Task Device_PointersInV4l2Ioctls_pointer_values_are_returned_unchanged() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start(_ => new PointerClobberingDevice());
        var session = await rig.Driver.OpenSessionAsync();
        var buffer = new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, memory = Constants.V4L2_MEMORY_MMAP, length = 2 };
        buffer.m.planes = 0x7FFF_DEAD_BEEF_0000;
        var planes = new byte[2 * 64];
        var result = await session.VIDIOC_QUERYBUF(buffer, new IoctlExtras { Elements = planes });
        Assert.AreEqual(0, result.Status);
        Assert.AreEqual(0x7FFF_DEAD_BEEF_0000UL, result.Payload.m.planes);
        Assert.AreEqual(4096u, BitConverter.ToUInt32(planes, 4), "the planes themselves come back updated");

        var controls = new v4l2_ext_controls { count = 1 };
        controls.controls = 0x5555_0000_1234;
        var elements = new byte[20];
        var ctrl = await session.VIDIOC_G_EXT_CTRLS(controls, new IoctlExtras { Elements = elements });
        Assert.AreEqual(0, ctrl.Status);
        Assert.AreEqual(0x5555_0000_1234UL, ctrl.Payload.controls);
        Assert.AreEqual(42, BitConverter.ToInt32(elements, 12));
    });

    [TestMethod]
    public Task Device_UnsupportedIoctls_ENOTTY() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(Constants.ENOTTY, (await session.VIDIOC_G_INPUT(0)).Status, "an ioctl the device does not implement");
        Assert.AreEqual(Constants.ENOTTY, (await session.VIDIOC_QUERYCAP(default)).Status, "an ioctl the specification replaces");
        Assert.AreEqual(Constants.ENOTTY, (await session.VIDIOC_DQBUF(new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE })).Status);
    });

    [TestMethod]
    public Task Device_MappingAMmapBuffer_len_equals_the_buffer_length() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        var sizeImage = await Streamer.NegotiateAsync(session); // 3072 bytes: not a page multiple
        await Streamer.RequestBuffersAsync(session, Constants.V4L2_MEMORY_MMAP, 2);
        for (uint i = 0; i < 2; i++)
        {
            var info = await session.VIDIOC_QUERYBUF(new v4l2_buffer { index = i, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP });
            var map = await session.MapAsync(info.Payload.m.offset);
            Assert.AreEqual((ulong)info.Payload.length, map.Length);
            Assert.AreEqual((ulong)sizeImage, map.Length);
        }
        await Assert.ThrowsExactlyAsync<DeviceErrorException>(async () => await session.MapAsync(0xFFFF_F000));
    });

    [TestMethod]
    public Task Device_UnmappingAMmapBuffer_mappings_stay_valid_until_MUNMAP_even_after_the_buffer_or_session_is_gone() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        var sizeImage = await Streamer.NegotiateAsync(session);
        await Streamer.RequestBuffersAsync(session, Constants.V4L2_MEMORY_MMAP, 1);
        var info = await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP });
        var map = await session.MapAsync(info.Payload.m.offset);
        map.Span.Fill(0x5A);
        Assert.AreEqual(0, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP, count = 0 })).Status);
        await session.CloseAsync();

        // Another session allocating buffers must not be handed the still-mapped memory.
        var other = await rig.Driver.OpenSessionAsync();
        await StreamingTests.StreamMmapAsync(other, frames: 8);
        Assert.IsTrue(rig.Device.Mmap.TryFind(map.DriverAddress, out var kept) && kept.IsReleased, "the released buffer is kept while mapped");
        Assert.IsTrue(map.Span.ToArray().All(b => b == 0x5A), "the mapping's contents survived the buffer, the session and other sessions' buffers");
        Assert.AreEqual((ulong)sizeImage, map.Length);

        await rig.Driver.UnmapAsync(map);
        Assert.IsFalse(rig.Device.Mmap.TryFind(map.DriverAddress, out _), "MUNMAP lets the memory go");
    });

    [TestMethod]
    public Task Device_SharedPages_m_userptr_returned_unchanged() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start(_ => new PointerClobberingDevice());
        var session = await rig.Driver.OpenSessionAsync();
        using var pages = rig.Driver.AllocateSharedPages(8192);
        var single = new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_USERPTR, length = 8192 };
        single.m.userptr = 0x7F12_3456_7000;
        var result = await session.VIDIOC_QBUF(single, new IoctlExtras { SgEntries = pages.SgEntries });
        Assert.AreEqual(0, result.Status);
        Assert.AreEqual((uint)Constants.V4L2_BUF_FLAG_QUEUED, result.Payload.flags, "the device did write the payload");
        Assert.AreEqual(0x7F12_3456_7000UL, result.Payload.m.userptr);

        var multi = new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, memory = Constants.V4L2_MEMORY_USERPTR, length = 1 };
        multi.m.planes = 0x1111_2222_3333;
        var plane = new byte[64];
        BitConverter.TryWriteBytes(plane.AsSpan(4), 8192u);
        BitConverter.TryWriteBytes(plane.AsSpan(8), 0x7F99_0000_1000UL);
        Assert.AreEqual(0, (await session.VIDIOC_QBUF(multi, new IoctlExtras { Elements = plane, SgEntries = pages.SgEntries })).Status);
        Assert.AreEqual(0x7F99_0000_1000UL, BitConverter.ToUInt64(plane, 8), "the plane's m.userptr came back unchanged");
    });

    [TestMethod]
    public Task Device_VirtioObject_the_fd_placeholder_is_left_unchanged() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start(_ => new PointerClobberingDevice());
        var session = await rig.Driver.OpenSessionAsync();
        var uuid = new byte[16];
        var result = await session.VIDIOC_EXPBUF(new v4l2_exportbuffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, fd = 1234 }, new IoctlExtras { Uuids = uuid });
        Assert.AreEqual(0, result.Status);
        Assert.AreEqual(1234, result.Payload.fd);
        Assert.AreNotEqual(Guid.Empty, new Guid(uuid), "the UUID the device set came back");
    });

    [TestMethod]
    public Task Device_DeviceSideError_after_EVT_ERROR_the_session_id_is_not_recycled_until_the_driver_closes_it() => Streamer.Guard(async () =>
    {
        using var release = new ManualResetEventSlim();
        await using var rig = RuntimeRig.Start(_ => new ErrorThenBlockDevice(release));
        var failing = await rig.Driver.OpenSessionAsync();
        var blocked = failing.VIDIOC_G_INPUT(0).AsTask();
        await failing.Closed.WaitAsync(TimeSpan.FromMilliseconds(200)).ContinueWith(_ => { }); // the driver's CLOSE is now queued behind the blocked ioctl
        Assert.IsTrue(rig.Device.TryGetSession(failing.Id, out var errored));
        Assert.AreEqual(VirtioMedia.Runtime.Device.DeviceSessionState.Errored, errored.State);
        // Ids count up, so point the device's next id at the errored one: it must be skipped.
        SessionIds.SetNext(rig.Device, failing.Id);
        var others = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => rig.Driver.OpenSessionAsync().AsTask()));
        CollectionAssert.DoesNotContain(others.Select(s => s.Id).ToList(), failing.Id, "an errored session's id is not handed out");

        release.Set();
        await blocked;
        await failing.Closed;
        SessionIds.SetNext(rig.Device, failing.Id);
        var reopened = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(failing.Id, reopened.Id, "once closed, the id is free again");
    });

    // ---- driver ----

    [TestMethod]
    public Task Driver_CommandVirtqueue_a_session_is_opened_before_it_is_used() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        // The only way to get an invoker is OPEN; the device never sees a command for a session it did not open.
        var session = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(0, (await session.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE })).Status);
        Assert.IsTrue(rig.Device.TryGetSession(session.Id, out _));
        Assert.AreEqual(0L, rig.Device.UnknownSessionCommands);
    });

    [TestMethod]
    public Task Driver_CloseDevice_a_closed_session_id_is_not_used_again_until_OPEN_returns_it() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        await session.CloseAsync();
        await Assert.ThrowsExactlyAsync<ObjectDisposedException>(async () => await session.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE }));
        await Assert.ThrowsExactlyAsync<ObjectDisposedException>(async () => await session.MapAsync(0));
        Assert.AreEqual(0L, rig.Device.UnknownSessionCommands, "nothing was sent with the closed id");
        // The device would hand out a fresh id; make it return the closed one, which the driver may then use again.
        SessionIds.SetNext(rig.Device, session.Id);
        var again = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(session.Id, again.Id);
        Assert.AreEqual(0, (await again.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE })).Status);
        Assert.AreEqual(0L, rig.Device.UnknownSessionCommands);
    });

    [TestMethod]
    public Task Driver_V4l2Ioctls_32bit_layouts_are_translated_to_the_64bit_LE_layout_and_an_unwritten_payload_means_unmodified() => Streamer.Guard(async () =>
    {
        var device = new PointerClobberingDevice();
        await using var rig = RuntimeRig.Start(_ => device);
        var session = await rig.Driver.OpenSessionAsync();
        // v4l2_buffer is 88 bytes in the 64-bit layout (68 in the 32-bit one, where the timestamp and pointers shrink).
        await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE });
        Assert.AreEqual(88, device.SeenQuerybufPayloadLength);

        var sent = new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
        sent.fmt.pix.width = 0xABCD;
        sent.fmt.pix.sizeimage = 0x1234_5678;
        var result = await session.VIDIOC_G_FMT(sent);
        Assert.AreEqual(Constants.EINVAL, result.Status);
        Assert.AreEqual(0xABCDu, result.Payload.fmt.pix.width, "the device answered the header only: the payload is as sent");
        Assert.AreEqual(0x1234_5678u, result.Payload.fmt.pix.sizeimage);
    });

    [TestMethod]
    public Task Driver_DeviceSideError_the_driver_closes_a_session_after_EVT_ERROR() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        var survivor = await rig.Driver.OpenSessionAsync();
        Assert.IsTrue(rig.Device.TryGetSession(session.Id, out var deviceSide));
        deviceSide.RaiseError(Constants.EIO);
        await session.Closed.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.AreEqual(Constants.EIO, session.DeviceError);
        Assert.IsFalse(rig.Device.TryGetSession(session.Id, out _), "the device received the driver's CLOSE");
        Assert.IsTrue(rig.Device.TryGetSession(survivor.Id, out _));
        var closed = await Assert.ThrowsExactlyAsync<System.Threading.Channels.ChannelClosedException>(async () => await session.DequeuedBuffers.ReadAsync());
        Assert.AreEqual(Constants.EIO, ((DeviceErrorException)closed.InnerException!).Errno);
        await Assert.ThrowsExactlyAsync<DeviceErrorException>(async () => await session.VIDIOC_G_INPUT(0));
    });

    [TestMethod]
    public Task Driver_DequeueBuffer_pointer_values_in_DQBUF_events_are_ignored() => Streamer.Guard(async () =>
    {
        // A hand-driven device that puts pointer values in its DQBUF event, which a device endpoint never does.
        using var transport = new InProcessTransport();
        transport.Config = TestCaptureDevice.Config;
        await using var driver = DriverEndpoint.Start(transport.Driver);
        var raw = new RawDevice(transport);
        var opening = driver.OpenSessionAsync().AsTask();
        await Streamer.SpinUntil(() => raw.TryAnswerCommand(new virtio_media_resp_open { session_id = 7 }));
        var session = await opening;

        var dqbuf = new virtio_media_event_dqbuf { hdr = new virtio_media_event_header { @event = Constants.VIRTIO_MEDIA_EVT_DQBUF, session_id = 7 } };
        dqbuf.buffer.type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
        dqbuf.buffer.memory = Constants.V4L2_MEMORY_USERPTR;
        dqbuf.buffer.length = 2;
        dqbuf.buffer.index = 3;
        dqbuf.buffer.m.planes = 0xFFFF_8000_DEAD_BEEF;
        dqbuf.planes[0].m.userptr = 0xFFFF_8000_0000_1000;
        dqbuf.planes[0].bytesused = 100;
        dqbuf.planes[1].m.userptr = 0xFFFF_8000_0000_2000;
        Assert.IsTrue(raw.TrySendEvent(dqbuf));
        var delivered = await session.DequeuedBuffers.ReadAsync();
        Assert.AreEqual(3u, delivered.Buffer.index);
        Assert.AreEqual(0UL, delivered.Buffer.m.planes);
        Assert.AreEqual(0UL, delivered.Planes[0].m.userptr);
        Assert.AreEqual(0UL, delivered.Planes[1].m.userptr);
        Assert.AreEqual(100u, delivered.Planes[0].bytesused, "the rest of the event is delivered as sent");
    });
}
