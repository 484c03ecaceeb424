using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Samples.Camera;
using VirtioMedia.Tests.Runtime;

namespace VirtioMedia.Tests.Samples;

/// <summary>The sample camera driven through both real endpoints over the in-process transport.</summary>
[TestClass]
public sealed class CameraTests
{
    private const uint Capture = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE;
    private const uint CaptureMplane = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
    private const uint Buffers = 4;
    private const int Frames = 64;

    [TestMethod]
    public Task Enumerates_formats_sizes_intervals_and_stream_parameters() => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(CollectionToString([Constants.V4L2_PIX_FMT_YUYV, Constants.V4L2_PIX_FMT_RGB24, Constants.V4L2_PIX_FMT_NV12]), CollectionToString(await EnumFormatsAsync(session, Capture)));
        Assert.AreEqual("", CollectionToString(await EnumFormatsAsync(session, CaptureMplane)), "a single-planar node has no multi-planar formats");
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_ENUM_FMT(new v4l2_fmtdesc { type = Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT })).Status);

        var sizes = new List<(uint, uint)>();
        for (uint i = 0; ; i++)
        {
            var size = await session.VIDIOC_ENUM_FRAMESIZES(new v4l2_frmsizeenum { index = i, pixel_format = Constants.V4L2_PIX_FMT_NV12 });
            if (size.Status != 0)
            {
                Assert.AreEqual(Constants.EINVAL, size.Status);
                break;
            }
            Assert.AreEqual(Constants.V4L2_FRMSIZE_TYPE_DISCRETE, size.Payload.type);
            sizes.Add((size.Payload.discrete.width, size.Payload.discrete.height));
        }
        CollectionAssert.IsSubsetOf(new[] { (640u, 480u), (1280u, 720u), (1920u, 1080u) }, sizes);
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_ENUM_FRAMESIZES(new v4l2_frmsizeenum { pixel_format = Constants.V4L2_PIX_FMT_MJPEG })).Status);
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_ENUM_FRAMESIZES(new v4l2_frmsizeenum { pixel_format = Constants.V4L2_PIX_FMT_NV12M })).Status, "NV12M needs the multi-planar API");

        var rates = new List<uint>();
        for (uint i = 0; ; i++)
        {
            var interval = await session.VIDIOC_ENUM_FRAMEINTERVALS(new v4l2_frmivalenum { index = i, pixel_format = Constants.V4L2_PIX_FMT_YUYV, width = 1280, height = 720 });
            if (interval.Status != 0)
            {
                break;
            }
            Assert.AreEqual(1u, interval.Payload.discrete.numerator);
            rates.Add(interval.Payload.discrete.denominator);
        }
        CollectionAssert.AreEqual(new uint[] { 30, 60 }, rates);
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_ENUM_FRAMEINTERVALS(new v4l2_frmivalenum { pixel_format = Constants.V4L2_PIX_FMT_YUYV, width = 4000, height = 720 })).Status);

        var parm = new v4l2_streamparm { type = Capture };
        parm.parm.capture.timeperframe = new v4l2_fract { numerator = 1, denominator = 50 };
        var set = await session.VIDIOC_S_PARM(parm);
        Assert.AreEqual(0, set.Status);
        Assert.AreEqual(60u, set.Payload.parm.capture.timeperframe.denominator, "1/50 s snaps to the nearest supported interval, 1/60 s");
        Assert.AreEqual((uint)Constants.V4L2_CAP_TIMEPERFRAME, set.Payload.parm.capture.capability);
        var get = await session.VIDIOC_G_PARM(new v4l2_streamparm { type = Capture });
        Assert.AreEqual(60u, get.Payload.parm.capture.timeperframe.denominator);

        var input = await session.VIDIOC_ENUMINPUT(new v4l2_input { index = 0 });
        Assert.AreEqual(0, input.Status);
        Assert.AreEqual((uint)Constants.V4L2_INPUT_TYPE_CAMERA, input.Payload.type);
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_ENUMINPUT(new v4l2_input { index = 1 })).Status);
        Assert.AreEqual(0, (await session.VIDIOC_S_INPUT(0)).Status);
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_S_INPUT(1)).Status);

        var caps = rig.Driver.Config.device_caps;
        Assert.AreEqual((uint)(Constants.V4L2_CAP_VIDEO_CAPTURE | Constants.V4L2_CAP_STREAMING), caps);
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_G_PARM(new v4l2_streamparm { type = CaptureMplane })).Status);
    });

    [TestMethod]
    public Task A_multi_planar_node_offers_only_the_multi_planar_api() => Streamer.Guard(async () =>
    {
        // v4l2-compliance (v4l2-compliance.cpp, testCap): a node may not set both V4L2_CAP_VIDEO_CAPTURE and
        // V4L2_CAP_VIDEO_CAPTURE_MPLANE; Linux's V4L2 core then refuses the single-planar ioctls itself.
        await using var rig = Rig.Start(new CameraOptions { Fast = true, Api = CameraApi.MultiPlanar });
        Assert.AreEqual((uint)(Constants.V4L2_CAP_VIDEO_CAPTURE_MPLANE | Constants.V4L2_CAP_STREAMING), rig.Driver.Config.device_caps);
        var session = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(CollectionToString([Constants.V4L2_PIX_FMT_YUYV, Constants.V4L2_PIX_FMT_RGB24, Constants.V4L2_PIX_FMT_NV12, Constants.V4L2_PIX_FMT_NV12M]),
            CollectionToString(await EnumFormatsAsync(session, CaptureMplane)));
        Assert.AreEqual("", CollectionToString(await EnumFormatsAsync(session, Capture)));
        foreach (var type in new[] { Capture, CaptureMplane })
        {
            var expected = type == CaptureMplane ? 0 : Constants.EINVAL;
            Assert.AreEqual(expected, (await session.VIDIOC_G_FMT(new v4l2_format { type = type })).Status, $"G_FMT type {type}");
            Assert.AreEqual(expected, (await session.VIDIOC_G_PARM(new v4l2_streamparm { type = type })).Status, $"G_PARM type {type}");
            Assert.AreEqual(expected, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = Constants.V4L2_MEMORY_MMAP })).Status, $"REQBUFS type {type}");
        }
        // NV12M has two memory planes; YUYV is offered as a one-plane multi-planar format.
        var nv12m = new v4l2_format { type = CaptureMplane };
        nv12m.fmt.pix_mp.pixelformat = Constants.V4L2_PIX_FMT_NV12M;
        var current = (await session.VIDIOC_TRY_FMT(nv12m)).Payload.fmt.pix_mp;
        Assert.AreEqual((Constants.V4L2_PIX_FMT_NV12M, (byte)2), (current.pixelformat, current.num_planes));
        var yuyv = new v4l2_format { type = CaptureMplane };
        yuyv.fmt.pix_mp.pixelformat = Constants.V4L2_PIX_FMT_YUYV;
        yuyv.fmt.pix_mp.width = 320;
        yuyv.fmt.pix_mp.height = 240;
        var tried = (await session.VIDIOC_TRY_FMT(yuyv)).Payload.fmt.pix_mp;
        Assert.AreEqual((Constants.V4L2_PIX_FMT_YUYV, (byte)1, 640u, 640u * 240), (tried.pixelformat, tried.num_planes, tried.plane_fmt[0].bytesperline, tried.plane_fmt[0].sizeimage));
    });


    [TestMethod]
    public Task S_FMT_clamps_sizes_and_reports_strides_and_image_sizes() => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        // Expected strides from the V4L2 format definitions: YUYV 2 bytes per pixel, RGB24 3, NV12 a luma plane
        // of 1 byte per pixel plus a half-height interleaved chroma plane of the same stride.
        var big = await SetFormatAsync(session, Constants.V4L2_PIX_FMT_YUYV, 4000, 3000);
        Assert.AreEqual((1920u, 1080u, 1920u * 2, 1920u * 2 * 1080), (big.width, big.height, big.bytesperline, big.sizeimage));
        var small = await SetFormatAsync(session, Constants.V4L2_PIX_FMT_NV12, 10, 10);
        Assert.AreEqual((160u, 120u, 160u, 160u * 120 * 3 / 2), (small.width, small.height, small.bytesperline, small.sizeimage));
        var odd = await SetFormatAsync(session, Constants.V4L2_PIX_FMT_RGB24, 641, 481);
        Assert.AreEqual((640u, 480u, 640u * 3, 640u * 3 * 480), (odd.width, odd.height, odd.bytesperline, odd.sizeimage));
        var unknown = await SetFormatAsync(session, Constants.V4L2_PIX_FMT_MJPEG, 320, 240);
        Assert.AreEqual(Constants.V4L2_PIX_FMT_YUYV, unknown.pixelformat, "an unsupported fourcc is replaced by a supported one");
        var current = await session.VIDIOC_G_FMT(new v4l2_format { type = Capture });
        Assert.AreEqual(320u, current.Payload.fmt.pix.width);

        await using var multiRig = Rig.Start(new CameraOptions { Fast = true, Api = CameraApi.MultiPlanar });
        var multiSession = await multiRig.Driver.OpenSessionAsync();
        var mplane = new v4l2_format { type = CaptureMplane };
        mplane.fmt.pix_mp.pixelformat = Constants.V4L2_PIX_FMT_NV12M;
        mplane.fmt.pix_mp.width = 1280;
        mplane.fmt.pix_mp.height = 720;
        var set = await multiSession.VIDIOC_S_FMT(mplane);
        Assert.AreEqual(0, set.Status);
        var multi = set.Payload.fmt.pix_mp;
        var planes = new[] { multi.plane_fmt[0], multi.plane_fmt[1] };
        Assert.AreEqual(2, multi.num_planes);
        Assert.AreEqual((1280u, 1280u * 720), (planes[0].bytesperline, planes[0].sizeimage));
        Assert.AreEqual((1280u, 1280u * 360), (planes[1].bytesperline, planes[1].sizeimage));

        var tried = new v4l2_format { type = Capture };
        tried.fmt.pix.pixelformat = Constants.V4L2_PIX_FMT_NV12;
        tried.fmt.pix.width = 99999;
        tried.fmt.pix.height = 1;
        var tryResult = await session.VIDIOC_TRY_FMT(tried);
        Assert.AreEqual((1920u, 120u), (tryResult.Payload.fmt.pix.width, tryResult.Payload.fmt.pix.height));
        Assert.AreEqual(320u, (await session.VIDIOC_G_FMT(new v4l2_format { type = Capture })).Payload.fmt.pix.width, "TRY_FMT changes nothing");
    });

    [TestMethod]
    [DataRow(Constants.V4L2_MEMORY_MMAP, Constants.V4L2_PIX_FMT_YUYV)]
    [DataRow(Constants.V4L2_MEMORY_MMAP, Constants.V4L2_PIX_FMT_NV12M)]
    [DataRow(Constants.V4L2_MEMORY_USERPTR, Constants.V4L2_PIX_FMT_RGB24)]
    [DataRow(Constants.V4L2_MEMORY_USERPTR, Constants.V4L2_PIX_FMT_NV12M)]
    [DataRow(Constants.V4L2_MEMORY_DMABUF, Constants.V4L2_PIX_FMT_NV12)]
    [DataRow(Constants.V4L2_MEMORY_DMABUF, Constants.V4L2_PIX_FMT_NV12M)]
    public Task Streams_frames_that_match_the_test_pattern_byte_for_byte(uint memory, uint pixelformat) => Streamer.Guard(async () =>
    {
        var registry = new VirtioObjectRegistry();
        var options = new CameraOptions { Fast = true, Api = CameraFormats.ApiFor(pixelformat) };
        await using var rig = Rig.Start(options, registry);
        await using var exporterRig = memory == Constants.V4L2_MEMORY_DMABUF ? Rig.Start(options, registry) : null;
        var session = await rig.Driver.OpenSessionAsync();
        var stream = await CaptureStream.CreateAsync(rig, session, memory, pixelformat, 320, 240, exporterRig);
        await stream.StartAsync();
        for (var n = 0; n < Frames; n++)
        {
            var done = await stream.DequeueAsync();
            Assert.AreEqual((uint)n, done.Buffer.sequence, "frames arrive in order, none lost");
            Assert.AreNotEqual(0u, done.Buffer.flags & (uint)Constants.V4L2_BUF_FLAG_DONE);
            stream.AssertFrame(done, n, PatternControls.Default);
            if (n + Buffers < Frames)
            {
                await stream.QueueAsync(done.Buffer.index);
            }
        }
        Assert.AreEqual(0, (await session.VIDIOC_STREAMOFF((int)stream.Type)).Status);
        await stream.DisposeAsync();
        await session.CloseAsync();
    });

    [TestMethod]
    public Task A_control_change_mid_stream_raises_an_event_and_shows_in_later_frames() => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start();
        var viewer = await rig.Driver.OpenSessionAsync();
        var panel = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(0, (await viewer.VIDIOC_SUBSCRIBE_EVENT(new v4l2_event_subscription { type = Constants.V4L2_EVENT_CTRL, id = Constants.V4L2_CID_BRIGHTNESS })).Status);
        Assert.AreEqual(0, (await viewer.VIDIOC_SUBSCRIBE_EVENT(new v4l2_event_subscription { type = Constants.V4L2_EVENT_CTRL, id = Constants.V4L2_CID_HFLIP })).Status);
        var stream = await CaptureStream.CreateAsync(rig, viewer, Constants.V4L2_MEMORY_MMAP, Constants.V4L2_PIX_FMT_YUYV, 320, 240, null);
        await stream.StartAsync();
        var changed = PatternControls.Default with { Brightness = 200, HorizontalFlip = true };
        var changeAt = -1;
        var queuedAfterChange = new HashSet<uint>();
        var switched = false;
        for (var n = 0; n < Frames; n++)
        {
            var done = await stream.DequeueAsync();
            Assert.AreEqual((uint)n, done.Buffer.sequence);
            if (changeAt < 0 || !stream.Matches(done, n, changed))
            {
                Assert.IsFalse(switched, $"frame {n} went back to the old controls");
                Assert.IsFalse(queuedAfterChange.Contains(done.Buffer.index), $"frame {n} was queued after the change but does not show it");
                stream.AssertFrame(done, n, PatternControls.Default);
            }
            else
            {
                switched = true;
            }
            queuedAfterChange.Remove(done.Buffer.index);
            if (n == 20)
            {
                // Another session changes the controls, as a control panel would.
                var controls = new v4l2_ext_control[]
                {
                    new() { id = Constants.V4L2_CID_BRIGHTNESS, value = 200 },
                    new() { id = Constants.V4L2_CID_HFLIP, value = 1 },
                };
                var set = await panel.VIDIOC_S_EXT_CTRLS(new v4l2_ext_controls { which = Constants.V4L2_CTRL_WHICH_CUR_VAL, count = 2 }, new IoctlExtras { Elements = MemoryMarshal.AsBytes(controls.AsSpan()).ToArray() });
                Assert.AreEqual(0, set.Status);
                changeAt = n;
            }
            if (n + Buffers < Frames)
            {
                await stream.QueueAsync(done.Buffer.index);
                if (changeAt >= 0)
                {
                    queuedAfterChange.Add(done.Buffer.index);
                }
            }
        }
        Assert.IsTrue(switched, "later frames show the new controls");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var seen = new Dictionary<uint, int>();
        for (var i = 0; i < 2; i++)
        {
            var ev = await viewer.Events.ReadAsync(timeout.Token);
            Assert.AreEqual((uint)Constants.V4L2_EVENT_CTRL, ev.type);
            Assert.AreEqual((uint)Constants.V4L2_EVENT_CTRL_CH_VALUE, ev.u.ctrl.changes & (uint)Constants.V4L2_EVENT_CTRL_CH_VALUE);
            seen[ev.id] = ev.u.ctrl.value;
        }
        Assert.AreEqual(200, seen[Constants.V4L2_CID_BRIGHTNESS]);
        Assert.AreEqual(1, seen[Constants.V4L2_CID_HFLIP]);
        Assert.AreEqual(255, (await viewer.VIDIOC_QUERYCTRL(new v4l2_queryctrl { id = Constants.V4L2_CID_BRIGHTNESS })).Payload.maximum);
        Assert.AreEqual(200, (await viewer.VIDIOC_G_CTRL(new v4l2_control { id = Constants.V4L2_CID_BRIGHTNESS })).Payload.value, "controls are the device's, shared by sessions");
        Assert.IsFalse(panel.Events.TryRead(out _), "the session that made the change gets no event without ALLOW_FEEDBACK");
        await viewer.VIDIOC_STREAMOFF((int)Capture);
        await stream.DisposeAsync();
    });

    [TestMethod]
    public Task Control_values_out_of_range_are_refused_and_change_nothing() => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        var ids = new List<uint>();
        var query = new v4l2_queryctrl { id = Constants.V4L2_CTRL_FLAG_NEXT_CTRL };
        while (true)
        {
            var next = await session.VIDIOC_QUERYCTRL(query);
            if (next.Status != 0)
            {
                Assert.AreEqual(Constants.EINVAL, next.Status);
                break;
            }
            ids.Add(next.Payload.id);
            query = new v4l2_queryctrl { id = next.Payload.id | Constants.V4L2_CTRL_FLAG_NEXT_CTRL };
        }
        // The user class control comes first (v4l2-test-controls.cpp, testQueryExtControls: "missing control class").
        CollectionAssert.AreEqual(new uint[] { Constants.V4L2_CID_USER_CLASS, Constants.V4L2_CID_BRIGHTNESS, Constants.V4L2_CID_CONTRAST, Constants.V4L2_CID_SATURATION, Constants.V4L2_CID_HUE, Constants.V4L2_CID_HFLIP, Constants.V4L2_CID_VFLIP }, ids);
        var hue = await session.VIDIOC_QUERY_EXT_CTRL(new v4l2_query_ext_ctrl { id = Constants.V4L2_CID_HUE });
        Assert.AreEqual((-180L, 180L, 0L), (hue.Payload.minimum, hue.Payload.maximum, hue.Payload.default_value));

        Assert.AreEqual(Constants.ERANGE, (await session.VIDIOC_S_CTRL(new v4l2_control { id = Constants.V4L2_CID_BRIGHTNESS, value = 256 })).Status);
        Assert.AreEqual(Constants.ERANGE, (await session.VIDIOC_S_CTRL(new v4l2_control { id = Constants.V4L2_CID_HUE, value = -181 })).Status);
        Assert.AreEqual(Constants.ERANGE, (await session.VIDIOC_S_CTRL(new v4l2_control { id = Constants.V4L2_CID_VFLIP, value = 2 })).Status);
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_S_CTRL(new v4l2_control { id = Constants.V4L2_CID_GAIN, value = 1 })).Status);
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_G_CTRL(new v4l2_control { id = Constants.V4L2_CID_GAIN })).Status);
        Assert.AreEqual(0, (await session.VIDIOC_S_CTRL(new v4l2_control { id = Constants.V4L2_CID_HUE, value = -180 })).Status, "the range's ends are accepted");

        var controls = new v4l2_ext_control[] { new() { id = Constants.V4L2_CID_CONTRAST, value = 10 }, new() { id = Constants.V4L2_CID_SATURATION, value = -1 } };
        var elements = MemoryMarshal.AsBytes(controls.AsSpan()).ToArray();
        var tried = await session.VIDIOC_TRY_EXT_CTRLS(new v4l2_ext_controls { which = Constants.V4L2_CTRL_WHICH_CUR_VAL, count = 2 }, new IoctlExtras { Elements = elements });
        Assert.AreEqual((Constants.ERANGE, 1u), (tried.Status, tried.Payload.error_idx), "TRY names the failing control");
        var set = await session.VIDIOC_S_EXT_CTRLS(new v4l2_ext_controls { which = Constants.V4L2_CTRL_WHICH_CUR_VAL, count = 2 }, new IoctlExtras { Elements = elements });
        Assert.AreEqual((Constants.ERANGE, 2u), (set.Status, set.Payload.error_idx), "a validation failure of S_EXT_CTRLS reports count");
        Assert.AreEqual(128, (await session.VIDIOC_G_CTRL(new v4l2_control { id = Constants.V4L2_CID_CONTRAST })).Payload.value, "nothing was applied");

        var unknown = new v4l2_ext_control[] { new() { id = Constants.V4L2_CID_HUE }, new() { id = Constants.V4L2_CID_GAIN } };
        var unknownBytes = MemoryMarshal.AsBytes(unknown.AsSpan()).ToArray();
        var got = await session.VIDIOC_G_EXT_CTRLS(new v4l2_ext_controls { which = Constants.V4L2_CTRL_WHICH_CUR_VAL, count = 2 }, new IoctlExtras { Elements = unknownBytes });
        // An unknown id is found while validating, before any value is read, so G_EXT_CTRLS reports count
        // (V4L2 VIDIOC_G_EXT_CTRLS documentation; v4l2-test-controls.cpp warns "g_ext_ctrls(0) invalid error_idx").
        Assert.AreEqual((Constants.EINVAL, 2u), (got.Status, got.Payload.error_idx));

        var defaults = new v4l2_ext_control[] { new() { id = Constants.V4L2_CID_HUE } };
        var defaultBytes = MemoryMarshal.AsBytes(defaults.AsSpan()).ToArray();
        Assert.AreEqual(0, (await session.VIDIOC_G_EXT_CTRLS(new v4l2_ext_controls { which = Constants.V4L2_CTRL_WHICH_DEF_VAL, count = 1 }, new IoctlExtras { Elements = defaultBytes })).Status);
        Assert.AreEqual(0, MemoryMarshal.Cast<byte, v4l2_ext_control>(defaultBytes)[0].value, "the default hue, not the current -180");
    });

    [TestMethod]
    public Task STREAMOFF_and_a_frame_limit_raise_end_of_stream() => Streamer.Guard(async () =>
    {
        await using (var rig = Rig.Start())
        {
            var session = await rig.Driver.OpenSessionAsync();
            Assert.AreEqual(0, (await session.VIDIOC_SUBSCRIBE_EVENT(new v4l2_event_subscription { type = Constants.V4L2_EVENT_EOS })).Status);
            var stream = await CaptureStream.CreateAsync(rig, session, Constants.V4L2_MEMORY_MMAP, Constants.V4L2_PIX_FMT_NV12, 160, 120, null);
            await stream.StartAsync();
            await stream.DequeueAsync();
            Assert.IsFalse(session.Events.TryRead(out _), "no EOS while streaming");
            Assert.AreEqual(0, (await session.VIDIOC_STREAMOFF((int)Capture)).Status);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            Assert.AreEqual((uint)Constants.V4L2_EVENT_EOS, (await session.Events.ReadAsync(timeout.Token)).type);
            await stream.DisposeAsync();
        }

        await using (var rig = Rig.Start(new CameraOptions { Fast = true, FrameLimit = 6 }))
        {
            var session = await rig.Driver.OpenSessionAsync();
            Assert.AreEqual(0, (await session.VIDIOC_SUBSCRIBE_EVENT(new v4l2_event_subscription { type = Constants.V4L2_EVENT_EOS })).Status);
            var stream = await CaptureStream.CreateAsync(rig, session, Constants.V4L2_MEMORY_MMAP, Constants.V4L2_PIX_FMT_RGB24, 160, 120, null);
            await stream.StartAsync();
            for (var n = 0; n < 6; n++)
            {
                var done = await stream.DequeueAsync();
                Assert.AreEqual(n == 5, (done.Buffer.flags & (uint)Constants.V4L2_BUF_FLAG_LAST) != 0, $"only frame 5 is the last (frame {n})");
                await stream.QueueAsync(done.Buffer.index);
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            Assert.AreEqual((uint)Constants.V4L2_EVENT_EOS, (await session.Events.ReadAsync(timeout.Token)).type);
            await Task.Delay(50);
            Assert.IsFalse(session.DequeuedBuffers.TryRead(out _), "no frame after the last");
            await stream.DisposeAsync();
        }
    });

    [TestMethod]
    public Task Paced_streaming_delivers_frames_at_the_frame_interval() => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start(new CameraOptions { Fast = false });
        var session = await rig.Driver.OpenSessionAsync();
        var parm = new v4l2_streamparm { type = Capture };
        parm.parm.capture.timeperframe = new v4l2_fract { numerator = 1, denominator = 60 };
        Assert.AreEqual(0, (await session.VIDIOC_S_PARM(parm)).Status);
        var stream = await CaptureStream.CreateAsync(rig, session, Constants.V4L2_MEMORY_MMAP, Constants.V4L2_PIX_FMT_YUYV, 160, 120, null);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await stream.StartAsync();
        const int frames = 12;
        for (var n = 0; n < frames; n++)
        {
            var done = await stream.DequeueAsync();
            stream.AssertFrame(done, n, PatternControls.Default);
            await stream.QueueAsync(done.Buffer.index);
        }
        // 12 frames at 60 fps take at least 11 intervals (183 ms); a scheduler may stretch them, never shrink them.
        Assert.IsTrue(clock.Elapsed >= TimeSpan.FromMilliseconds(11 * 1000.0 / 60 - 20), $"12 frames came in {clock.Elapsed.TotalMilliseconds} ms");
        await session.VIDIOC_STREAMOFF((int)Capture);
        await stream.DisposeAsync();
    });

    private static string CollectionToString(IEnumerable<uint> values) => string.Join(",", values);

    private static async Task<List<uint>> EnumFormatsAsync(DriverSession session, uint type)
    {
        var formats = new List<uint>();
        for (uint i = 0; ; i++)
        {
            var format = await session.VIDIOC_ENUM_FMT(new v4l2_fmtdesc { type = type, index = i });
            if (format.Status != 0)
            {
                Assert.AreEqual(Constants.EINVAL, format.Status);
                return formats;
            }
            Assert.AreNotEqual(0, format.Payload.description[0], "a description is given");
            formats.Add(format.Payload.pixelformat);
        }
    }

    private static async Task<v4l2_pix_format> SetFormatAsync(DriverSession session, uint pixelformat, uint width, uint height)
    {
        var format = new v4l2_format { type = Capture };
        format.fmt.pix.pixelformat = pixelformat;
        format.fmt.pix.width = width;
        format.fmt.pix.height = height;
        var set = await session.VIDIOC_S_FMT(format);
        Assert.AreEqual(0, set.Status);
        return set.Payload.fmt.pix;
    }

    /// <summary>A camera served through a device endpoint, and a driver endpoint, over one in-process transport.</summary>
    internal sealed class Rig : IAsyncDisposable
    {
        private Rig(VirtualCamera camera, InProcessTransport transport, DeviceEndpoint device, DriverEndpoint driver)
        {
            Camera = camera;
            Transport = transport;
            Device = device;
            Driver = driver;
        }

        public VirtualCamera Camera { get; }

        public InProcessTransport Transport { get; }

        public DeviceEndpoint Device { get; }

        public DriverEndpoint Driver { get; }

        public static Rig Start(CameraOptions? options = null, VirtioObjectRegistry? objects = null, ulong sharedMemorySize = 24 << 20)
        {
            var camera = new VirtualCamera(options ?? new CameraOptions { Fast = true });
            var transport = new InProcessTransport(guestMemorySize: 24 << 20, sharedMemorySize: sharedMemorySize);
            var device = camera.CreateEndpoint(transport, objects);
            transport.Config = device.Config;
            var driver = DriverEndpoint.Start(transport.Driver, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(5) });
            device.Start();
            return new Rig(camera, transport, device, driver);
        }

        public async ValueTask DisposeAsync()
        {
            // A test that fails mid-stream leaves the stream running: stop it before guest memory is freed.
            Camera.StopStreams();
            await Driver.DisposeAsync();
            await Device.DisposeAsync();
            Transport.Dispose();
        }
    }

    /// <summary>A capture stream from the driver's side: buffers of one memory type, queued and read back.</summary>
    private sealed class CaptureStream : IAsyncDisposable
    {
        private readonly Rig _rig;
        private readonly DriverSession _session;
        private readonly uint _memory;
        private readonly int[] _strides;
        private readonly int[] _sizes;
        private readonly List<(DriverEndpoint Endpoint, MappedBuffer Map)> _maps = new();
        private readonly MappedBuffer[][] _views;
        private readonly SharedPagesBuffer[][] _pages;
        private readonly byte[][][] _uuids;
        private DriverSession? _exporter;
        private byte[] _expected0 = [];
        private byte[] _expected1 = [];
        private readonly byte[][] _actual = [[], []];

        private CaptureStream(Rig rig, DriverSession session, uint memory, uint pixelformat, int width, int height, int[] strides, int[] sizes)
        {
            _rig = rig;
            _session = session;
            _memory = memory;
            Pixelformat = pixelformat;
            Width = width;
            Height = height;
            _strides = strides;
            _sizes = sizes;
            Type = CameraFormats.BufferType(pixelformat);
            _views = new MappedBuffer[Buffers][];
            _pages = new SharedPagesBuffer[Buffers][];
            _uuids = new byte[Buffers][][];
        }

        public uint Type { get; }

        public uint Pixelformat { get; }

        public int Width { get; }

        public int Height { get; }

        private bool MultiPlanar => Type == CaptureMplane;

        private int PlaneCount => _sizes.Length;

        public static async Task<CaptureStream> CreateAsync(Rig rig, DriverSession session, uint memory, uint pixelformat, uint width, uint height, Rig? exporterRig)
        {
            var (strides, sizes) = await NegotiateAsync(session, pixelformat, width, height);
            var stream = new CaptureStream(rig, session, memory, pixelformat, (int)width, (int)height, strides, sizes);
            var granted = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = stream.Type, memory = memory, count = Buffers });
            Assert.AreEqual(0, granted.Status);
            Assert.AreEqual(Buffers, granted.Payload.count);
            switch (memory)
            {
                case Constants.V4L2_MEMORY_MMAP:
                    for (uint i = 0; i < Buffers; i++)
                    {
                        stream._views[i] = await stream.MapAllAsync(session, i);
                    }
                    break;
                case Constants.V4L2_MEMORY_USERPTR:
                    for (uint i = 0; i < Buffers; i++)
                    {
                        stream._pages[i] = new SharedPagesBuffer[sizes.Length];
                        for (var plane = 0; plane < sizes.Length; plane++)
                        {
                            stream._pages[i][plane] = rig.Driver.AllocateSharedPages((uint)sizes[plane]);
                            stream._pages[i][plane].Fill(0xEE);
                        }
                    }
                    break;
                default:
                    // Another camera exports MMAP buffers of the same format; this one imports them by UUID.
                    var exporter = await exporterRig!.Driver.OpenSessionAsync();
                    stream._exporter = exporter;
                    await NegotiateAsync(exporter, pixelformat, width, height);
                    Assert.AreEqual(0, (await exporter.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = stream.Type, memory = Constants.V4L2_MEMORY_MMAP, count = Buffers })).Status);
                    for (uint i = 0; i < Buffers; i++)
                    {
                        stream._uuids[i] = new byte[sizes.Length][];
                        for (var plane = 0; plane < sizes.Length; plane++)
                        {
                            stream._uuids[i][plane] = new byte[16];
                            var exported = await exporter.VIDIOC_EXPBUF(new v4l2_exportbuffer { type = stream.Type, index = i, plane = (uint)plane }, new IoctlExtras { Uuids = stream._uuids[i][plane] });
                            Assert.AreEqual(0, exported.Status);
                        }
                        stream._views[i] = await stream.MapAllAsync(exporter, i);
                    }
                    break;
            }
            return stream;
        }

        private static async Task<(int[] Strides, int[] Sizes)> NegotiateAsync(DriverSession session, uint pixelformat, uint width, uint height)
        {
            var format = new v4l2_format { type = CameraFormats.BufferType(pixelformat) };
            if (format.type == CaptureMplane)
            {
                format.fmt.pix_mp.pixelformat = pixelformat;
                format.fmt.pix_mp.width = width;
                format.fmt.pix_mp.height = height;
            }
            else
            {
                format.fmt.pix.pixelformat = pixelformat;
                format.fmt.pix.width = width;
                format.fmt.pix.height = height;
            }
            var set = await session.VIDIOC_S_FMT(format);
            Assert.AreEqual(0, set.Status);
            if (format.type == CaptureMplane)
            {
                var multi = set.Payload.fmt.pix_mp;
                var planes = new[] { multi.plane_fmt[0], multi.plane_fmt[1] };
                Assert.AreEqual((width, height, pixelformat), (set.Payload.fmt.pix_mp.width, set.Payload.fmt.pix_mp.height, set.Payload.fmt.pix_mp.pixelformat));
                return ([(int)planes[0].bytesperline, (int)planes[1].bytesperline], [(int)planes[0].sizeimage, (int)planes[1].sizeimage]);
            }
            Assert.AreEqual((width, height, pixelformat), (set.Payload.fmt.pix.width, set.Payload.fmt.pix.height, set.Payload.fmt.pix.pixelformat));
            return ([(int)set.Payload.fmt.pix.bytesperline], [(int)set.Payload.fmt.pix.sizeimage]);
        }

        private async Task<MappedBuffer[]> MapAllAsync(DriverSession owner, uint index)
        {
            var planes = new byte[Constants.VIRTIO_MEDIA_MAX_PLANES * Marshal.SizeOf<v4l2_plane>()];
            var query = new v4l2_buffer { index = index, type = Type, memory = Constants.V4L2_MEMORY_MMAP, length = MultiPlanar ? (uint)PlaneCount : 0 };
            var info = await owner.VIDIOC_QUERYBUF(query, MultiPlanar ? new IoctlExtras { Elements = planes.AsMemory(0, PlaneCount * Marshal.SizeOf<v4l2_plane>()) } : null);
            Assert.AreEqual(0, info.Status);
            var views = new MappedBuffer[PlaneCount];
            for (var plane = 0; plane < PlaneCount; plane++)
            {
                var offset = MultiPlanar ? MemoryMarshal.Cast<byte, v4l2_plane>(planes)[plane].m.mem_offset : info.Payload.m.offset;
                views[plane] = await owner.MapAsync(offset, writable: false);
                Assert.IsTrue(views[plane].Length >= (ulong)_sizes[plane]);
                _maps.Add((owner.Endpoint, views[plane]));
            }
            return views;
        }

        public async Task StartAsync()
        {
            for (uint i = 0; i < Buffers; i++)
            {
                await QueueAsync(i);
            }
            Assert.AreEqual(0, (await _session.VIDIOC_STREAMON((int)Type)).Status);
        }

        public async Task QueueAsync(uint index)
        {
            var buffer = new v4l2_buffer { index = index, type = Type, memory = _memory, length = MultiPlanar ? (uint)PlaneCount : (uint)_sizes[0] };
            var planes = new v4l2_plane[PlaneCount];
            var extras = new IoctlExtras();
            for (var plane = 0; plane < PlaneCount; plane++)
            {
                planes[plane].length = (uint)_sizes[plane];
            }
            switch (_memory)
            {
                case Constants.V4L2_MEMORY_USERPTR:
                    var entries = new List<virtio_media_sg_entry>();
                    for (var plane = 0; plane < PlaneCount; plane++)
                    {
                        entries.AddRange(_pages[index][plane].SgEntries.ToArray());
                        planes[plane].m.userptr = 0x7F00_0000_0000UL + index * 0x100_0000UL + (ulong)plane * 0x80_0000UL;
                    }
                    buffer.m.userptr = 0x7F00_0000_0000UL + index * 0x100_0000UL;
                    extras = new IoctlExtras { SgEntries = entries.ToArray() };
                    break;
                case Constants.V4L2_MEMORY_DMABUF:
                    var uuids = new byte[PlaneCount * 16];
                    for (var plane = 0; plane < PlaneCount; plane++)
                    {
                        _uuids[index][plane].CopyTo(uuids, plane * 16);
                        planes[plane].m.fd = 40 + plane;
                    }
                    buffer.m.fd = 40;
                    extras = new IoctlExtras { Uuids = uuids };
                    break;
            }
            if (MultiPlanar)
            {
                extras = new IoctlExtras { Elements = MemoryMarshal.AsBytes(planes.AsSpan()).ToArray(), SgEntries = extras.SgEntries, Uuids = extras.Uuids };
            }
            var queued = await _session.VIDIOC_QBUF(buffer, extras);
            Assert.AreEqual(0, queued.Status, $"QBUF {index}");
        }

        public async Task<DequeuedBuffer> DequeueAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var done = await _session.DequeuedBuffers.ReadAsync(timeout.Token);
            if (MultiPlanar)
            {
                var planes = done.Planes;
                for (var plane = 0; plane < PlaneCount; plane++)
                {
                    Assert.AreEqual((uint)_sizes[plane], planes[plane].bytesused);
                }
            }
            else
            {
                Assert.AreEqual((uint)_sizes[0], done.Buffer.bytesused);
            }
            return done;
        }

        /// <summary>Whether the buffer holds frame <paramref name="frame"/> rendered with <paramref name="controls"/>.</summary>
        public bool Matches(DequeuedBuffer done, int frame, PatternControls controls)
        {
            Read(done.Buffer.index);
            Render(frame, controls);
            return _actual[0].AsSpan(0, _sizes[0]).SequenceEqual(_expected0.AsSpan(0, _sizes[0]))
                && (PlaneCount == 1 || _actual[1].AsSpan(0, _sizes[1]).SequenceEqual(_expected1.AsSpan(0, _sizes[1])));
        }

        public void AssertFrame(DequeuedBuffer done, int frame, PatternControls controls)
        {
            if (Matches(done, frame, controls))
            {
                return;
            }
            for (var plane = 0; plane < PlaneCount; plane++)
            {
                var expected = plane == 0 ? _expected0 : _expected1;
                for (var i = 0; i < _sizes[plane]; i++)
                {
                    if (_actual[plane][i] != expected[i])
                    {
                        Assert.Fail($"frame {frame} plane {plane} byte {i}: 0x{_actual[plane][i]:X2}, expected 0x{expected[i]:X2}");
                    }
                }
            }
        }

        private void Render(int frame, PatternControls controls)
        {
            if (_expected0.Length < _sizes[0])
            {
                _expected0 = new byte[_sizes[0]];
                _expected1 = new byte[PlaneCount > 1 ? _sizes[1] : 0];
            }
            TestPattern.Render(Pixelformat, Width, Height, _strides, frame, controls, _expected0, _expected1);
        }

        private void Read(uint index)
        {
            for (var plane = 0; plane < PlaneCount; plane++)
            {
                if (_actual[plane].Length < _sizes[plane])
                {
                    _actual[plane] = new byte[_sizes[plane]];
                }
                var destination = _actual[plane].AsSpan(0, _sizes[plane]);
                if (_memory == Constants.V4L2_MEMORY_USERPTR)
                {
                    _pages[index][plane].CopyTo(destination);
                }
                else
                {
                    _views[index][plane].Span.Slice(0, _sizes[plane]).CopyTo(destination);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Type, memory = _memory, count = 0 });
            foreach (var (endpoint, map) in _maps)
            {
                await endpoint.UnmapAsync(map);
            }
            foreach (var buffers in _pages)
            {
                foreach (var buffer in buffers ?? [])
                {
                    buffer.Dispose();
                }
            }
            if (_exporter is not null)
            {
                await _exporter.CloseAsync();
            }
        }
    }
}
