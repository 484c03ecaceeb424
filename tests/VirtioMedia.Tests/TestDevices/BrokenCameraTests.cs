using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Samples.Camera;
using VirtioMedia.TestDevices;

namespace VirtioMedia.Tests.TestDevices;

/// <summary>
/// Each test device breaks its rule and only that rule: the same probe ioctls go to the good camera and to the
/// device through the real driver endpoint over the in-process transport, and exactly the probes of the rule answer
/// differently, in the way the rule says. The good camera's and the devices' results under the real
/// v4l2-compliance (docs/compliance-crosscheck/, written by tools/compliance-crosscheck/run) are checked too.
/// </summary>
[TestClass]
public sealed class BrokenCameraTests
{
    private const uint Capture = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE;
    private const long UserPtr = 0x7F00_0000_0000;
    private const long ControlsPointer = 0x7F00_1234_0000;
    private const uint YuyvVgaSize = 640 * 480 * 2;
    private static readonly uint[] Formats = [Constants.V4L2_PIX_FMT_YUYV, Constants.V4L2_PIX_FMT_RGB24];

    // The probes each rule changes; every other probe must answer byte for byte as the camera does.
    private static readonly Dictionary<BrokenRule, string[]> Changed = new()
    {
        [BrokenRule.DeviceCapsWithoutStreaming] = ["config"],
        [BrokenRule.EnumFmtRepeatsFirstFormat] = ["ENUM_FMT 2"],
        [BrokenRule.BytesPerLineBelowWidth] = ["G_FMT", "TRY_FMT", "S_FMT"],
        [BrokenRule.FieldAny] = ["G_FMT", "TRY_FMT", "S_FMT"],
        [BrokenRule.ParmWithoutTimePerFrame] = ["G_PARM", "S_PARM"],
        [BrokenRule.FrameSizeZero] = [$"ENUM_FRAMESIZES {CameraFormats.FrameSizes.Count}"],
        [BrokenRule.QueryCtrlStepZero] = ["QUERYCTRL brightness", "QUERY_EXT_CTRL brightness"],
        [BrokenRule.SetCtrlOutOfRangeAccepted] = ["S_CTRL brightness 256"],
        [BrokenRule.TryExtCtrlsErrorIndex] = ["TRY_EXT_CTRLS id 0"],
        [BrokenRule.ControlEventWithoutInitial] = ["initial event"],
        [BrokenRule.BufferCapsWithoutMmap] = ["REQBUFS", "CREATE_BUFS", "REQBUFS 0", "REQBUFS userptr", "REQBUFS userptr 0"],
        [BrokenRule.QueryBufWithoutTimestampType] = ["QUERYBUF 0", "QUERYBUF userptr"],
    };

    [TestMethod]
    public void Every_rule_has_its_probes_and_a_command_line_name()
    {
        CollectionAssert.AreEquivalent(BrokenCamera.Rules.Where(rule => rule != BrokenRule.None).ToArray(), Changed.Keys.ToArray());
        foreach (var rule in BrokenCamera.Rules)
        {
            Assert.IsTrue(BrokenCamera.TryParse(BrokenCamera.NameOf(rule), out var parsed) && parsed == rule, BrokenCamera.NameOf(rule));
        }
        Assert.AreEqual("field-any", BrokenCamera.NameOf(BrokenRule.FieldAny));
        Assert.IsFalse(BrokenCamera.TryParse("no-such-rule", out _));
    }

    // A decorator that misses an ioctl would answer it ENOTTY instead of the camera's answer.
    [TestMethod]
    public void The_forwarding_handler_overrides_every_ioctl_method()
    {
        var ioctlMethods = typeof(V4l2DeviceHandler<DeviceIoctlContext>).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(method => method.IsVirtual && method.Name.StartsWith("VIDIOC_", StringComparison.Ordinal)).ToArray();
        Assert.IsTrue(ioctlMethods.Length > 50, $"{ioctlMethods.Length} ioctl methods");
        foreach (var method in ioctlMethods)
        {
            var own = typeof(ForwardingDeviceHandler).GetMethod(method.Name, [.. method.GetParameters().Select(p => p.ParameterType)]);
            Assert.AreEqual(typeof(ForwardingDeviceHandler), own?.DeclaringType, method.Name);
        }
    }

    [TestMethod]
    [DataRow(BrokenRule.DeviceCapsWithoutStreaming)]
    [DataRow(BrokenRule.EnumFmtRepeatsFirstFormat)]
    [DataRow(BrokenRule.BytesPerLineBelowWidth)]
    [DataRow(BrokenRule.FieldAny)]
    [DataRow(BrokenRule.ParmWithoutTimePerFrame)]
    [DataRow(BrokenRule.FrameSizeZero)]
    [DataRow(BrokenRule.QueryCtrlStepZero)]
    [DataRow(BrokenRule.SetCtrlOutOfRangeAccepted)]
    [DataRow(BrokenRule.TryExtCtrlsErrorIndex)]
    [DataRow(BrokenRule.ControlEventWithoutInitial)]
    [DataRow(BrokenRule.BufferCapsWithoutMmap)]
    [DataRow(BrokenRule.QueryBufWithoutTimestampType)]
    public async Task The_device_breaks_its_rule_and_no_other(BrokenRule rule)
    {
        var good = await ProbeAsync(BrokenRule.None);
        var broken = await ProbeAsync(rule);
        CollectionAssert.AreEqual(good.Keys.ToArray(), broken.Keys.ToArray(), "the same probes ran");
        var differing = good.Keys.Where(name => !good[name].Bytes.SequenceEqual(broken[name].Bytes)).ToArray();
        CollectionAssert.AreEquivalent(Changed[rule], differing, $"probes that answer differently: {string.Join(", ", differing)}");

        // And the difference is the rule's.
        switch (rule)
        {
            case BrokenRule.DeviceCapsWithoutStreaming:
                Assert.AreEqual(good["config"].Value - Constants.V4L2_CAP_STREAMING, broken["config"].Value);
                break;
            case BrokenRule.EnumFmtRepeatsFirstFormat:
                Assert.AreEqual((Constants.EINVAL, 0), (good["ENUM_FMT 2"].Status, broken["ENUM_FMT 2"].Status));
                Assert.AreEqual((long)Formats[0], broken["ENUM_FMT 2"].Value);
                break;
            case BrokenRule.BytesPerLineBelowWidth:
            case BrokenRule.FieldAny:
                foreach (var name in Changed[rule])
                {
                    var (goodFormat, brokenFormat) = (As<v4l2_format>(good[name]).fmt.pix, As<v4l2_format>(broken[name]).fmt.pix);
                    Assert.AreEqual(goodFormat.sizeimage, brokenFormat.sizeimage, name);
                    if (rule == BrokenRule.FieldAny)
                    {
                        Assert.AreEqual(((uint)Constants.V4L2_FIELD_NONE, (uint)Constants.V4L2_FIELD_ANY), (goodFormat.field, brokenFormat.field), name);
                    }
                    else
                    {
                        Assert.IsTrue(goodFormat.bytesperline >= goodFormat.width && brokenFormat.bytesperline < brokenFormat.width, name);
                    }
                }
                break;
            case BrokenRule.ParmWithoutTimePerFrame:
                Assert.AreEqual(((uint)Constants.V4L2_CAP_TIMEPERFRAME, 0u), (As<v4l2_streamparm>(good["G_PARM"]).parm.capture.capability, As<v4l2_streamparm>(broken["G_PARM"]).parm.capture.capability));
                break;
            case BrokenRule.FrameSizeZero:
                var past = $"ENUM_FRAMESIZES {CameraFormats.FrameSizes.Count}";
                Assert.AreEqual((Constants.EINVAL, 0), (good[past].Status, broken[past].Status));
                Assert.AreEqual((0u, 0u), (As<v4l2_frmsizeenum>(broken[past]).discrete.width, As<v4l2_frmsizeenum>(broken[past]).discrete.height));
                break;
            case BrokenRule.QueryCtrlStepZero:
                Assert.AreEqual((1, 0), (As<v4l2_queryctrl>(good["QUERYCTRL brightness"]).step, As<v4l2_queryctrl>(broken["QUERYCTRL brightness"]).step));
                Assert.AreEqual((1UL, 0UL), (As<v4l2_query_ext_ctrl>(good["QUERY_EXT_CTRL brightness"]).step, As<v4l2_query_ext_ctrl>(broken["QUERY_EXT_CTRL brightness"]).step));
                break;
            case BrokenRule.SetCtrlOutOfRangeAccepted:
                Assert.AreEqual((Constants.ERANGE, 0), (good["S_CTRL brightness 256"].Status, broken["S_CTRL brightness 256"].Status));
                Assert.AreEqual(256L, broken["S_CTRL brightness 256"].Value, "the out-of-range value answered back");
                break;
            case BrokenRule.TryExtCtrlsErrorIndex:
                Assert.AreEqual((0L, 1L), (good["TRY_EXT_CTRLS id 0"].Value, broken["TRY_EXT_CTRLS id 0"].Value), "error_idx for one control of id 0");
                break;
            case BrokenRule.ControlEventWithoutInitial:
                Assert.AreEqual((1L, 0L), (good["initial event"].Value, broken["initial event"].Value));
                break;
            case BrokenRule.BufferCapsWithoutMmap:
                Assert.AreEqual((long)Constants.V4L2_BUF_CAP_SUPPORTS_MMAP, good["REQBUFS"].Value & Constants.V4L2_BUF_CAP_SUPPORTS_MMAP);
                Assert.AreEqual(0L, broken["REQBUFS"].Value & Constants.V4L2_BUF_CAP_SUPPORTS_MMAP);
                Assert.AreEqual(good["REQBUFS"].Value - Constants.V4L2_BUF_CAP_SUPPORTS_MMAP, broken["REQBUFS"].Value, "only the MMAP bit");
                break;
            case BrokenRule.QueryBufWithoutTimestampType:
                Assert.AreEqual(((long)Constants.V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, 0L), (good["QUERYBUF 0"].Value & Constants.V4L2_BUF_FLAG_TIMESTAMP_MASK, broken["QUERYBUF 0"].Value & Constants.V4L2_BUF_FLAG_TIMESTAMP_MASK));
                break;
            default:
                Assert.Fail($"no check for {rule}");
                break;
        }
    }

    // The recorded real v4l2-compliance runs (plain and -s 10): the good camera passes every test, as
    // tools/real-guest requires of the single-planar configuration (no expected/ file: 0 failed), and every
    // device fails at least one test. The per-device line is checked in docs/compliance-crosscheck.md's table.
    [TestMethod]
    public void The_recorded_v4l2_compliance_results_pass_the_camera_and_fail_every_device()
    {
        var folder = Path.Combine(Repository.Root, "docs", "compliance-crosscheck");
        foreach (var rule in BrokenCamera.Rules)
        {
            var path = Path.Combine(folder, BrokenCamera.NameOf(rule) + ".txt");
            Assert.IsTrue(File.Exists(path), $"{path}: run tools/compliance-crosscheck/run");
            var lines = File.ReadAllLines(path);
            foreach (var run in new[] { "compliance", "compliance-s10" })
            {
                var tests = lines.Where(line => line.StartsWith(run + "\ttest ", StringComparison.Ordinal)).ToArray();
                Assert.IsTrue(tests.Length >= 40, $"{path} {run}: {tests.Length} test lines");
                var failing = tests.Count(line => line.EndsWith(": FAIL", StringComparison.Ordinal));
                if (rule == BrokenRule.None)
                {
                    Assert.AreEqual(0, failing, $"{path} {run}");
                    Assert.IsFalse(lines.Any(line => line.Contains("\twarn:", StringComparison.Ordinal)), $"{path}: a warning");
                }
                else
                {
                    Assert.IsTrue(failing > 0, $"{path} {run}: no failing test");
                }
            }
        }
    }

    private static T As<T>(Answer answer) where T : unmanaged => MemoryMarshal.Read<T>(answer.Payload);

    /// <summary>One probe's answer: the status, the payload bytes, and the value the rule is about; all compared.</summary>
    private sealed record Answer(int Status, byte[] Payload, long Value)
    {
        public byte[] Bytes => [.. BitConverter.GetBytes(Status), .. Payload, .. BitConverter.GetBytes(Value)];
    }

    private static Answer Record<T>(IoctlResult<T> result, long value = 0) where T : unmanaged
    {
        var payload = result.Payload;
        return new Answer(result.Status, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(ref payload)).ToArray(), value);
    }

    /// <summary>The probe ioctls, in one order, against the camera with <paramref name="rule"/> broken.</summary>
    private static async Task<Dictionary<string, Answer>> ProbeAsync(BrokenRule rule)
    {
        var device = new BrokenCamera(rule, new CameraOptions { Fast = true, Memory = MemoryTypes.Mmap | MemoryTypes.SharedPages, PixelFormats = Formats });
        using var transport = new InProcessTransport(guestMemorySize: 24 << 20, sharedMemorySize: 24 << 20);
        var endpoint = device.CreateEndpoint(transport);
        transport.Config = endpoint.Config;
        var driver = DriverEndpoint.Start(transport.Driver, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(5) });
        endpoint.Start();
        try
        {
            var answers = new Dictionary<string, Answer>();
            var caps = endpoint.Config.device_caps;
            answers["config"] = new Answer(0, BitConverter.GetBytes(caps), caps);
            var session = await driver.OpenSessionAsync();
            for (uint index = 0; index <= Formats.Length; index++)
            {
                var format = await session.VIDIOC_ENUM_FMT(new v4l2_fmtdesc { type = Capture, index = index });
                answers[$"ENUM_FMT {index}"] = Record(format, format.Payload.pixelformat);
            }
            answers["G_FMT"] = Record(await session.VIDIOC_G_FMT(new v4l2_format { type = Capture }));
            var request = new v4l2_format { type = Capture };
            request.fmt.pix.pixelformat = Constants.V4L2_PIX_FMT_YUYV;
            request.fmt.pix.width = 640;
            request.fmt.pix.height = 480;
            answers["TRY_FMT"] = Record(await session.VIDIOC_TRY_FMT(request));
            answers["S_FMT"] = Record(await session.VIDIOC_S_FMT(request));
            answers["G_PARM"] = Record(await session.VIDIOC_G_PARM(new v4l2_streamparm { type = Capture }));
            var parm = new v4l2_streamparm { type = Capture };
            parm.parm.capture.timeperframe = new v4l2_fract { numerator = 1, denominator = 30 };
            answers["S_PARM"] = Record(await session.VIDIOC_S_PARM(parm));
            for (uint index = 0; index <= CameraFormats.FrameSizes.Count; index++)
            {
                answers[$"ENUM_FRAMESIZES {index}"] = Record(await session.VIDIOC_ENUM_FRAMESIZES(new v4l2_frmsizeenum { index = index, pixel_format = Constants.V4L2_PIX_FMT_YUYV }));
            }
            answers["ENUM_FRAMEINTERVALS"] = Record(await session.VIDIOC_ENUM_FRAMEINTERVALS(new v4l2_frmivalenum { pixel_format = Constants.V4L2_PIX_FMT_YUYV, width = 640, height = 480 }));
            answers["QUERYCTRL brightness"] = Record(await session.VIDIOC_QUERYCTRL(new v4l2_queryctrl { id = Constants.V4L2_CID_BRIGHTNESS }));
            answers["QUERYCTRL next"] = Record(await session.VIDIOC_QUERYCTRL(new v4l2_queryctrl { id = Constants.V4L2_CID_BRIGHTNESS | Constants.V4L2_CTRL_FLAG_NEXT_CTRL }));
            answers["QUERY_EXT_CTRL brightness"] = Record(await session.VIDIOC_QUERY_EXT_CTRL(new v4l2_query_ext_ctrl { id = Constants.V4L2_CID_BRIGHTNESS }));
            var set = await session.VIDIOC_S_CTRL(new v4l2_control { id = Constants.V4L2_CID_BRIGHTNESS, value = 256 });
            answers["S_CTRL brightness 256"] = Record(set, set.Payload.value);
            answers["S_CTRL brightness 200"] = Record(await session.VIDIOC_S_CTRL(new v4l2_control { id = Constants.V4L2_CID_BRIGHTNESS, value = 200 }));
            answers["G_CTRL brightness"] = Record(await session.VIDIOC_G_CTRL(new v4l2_control { id = Constants.V4L2_CID_BRIGHTNESS }));
            var unknown = new v4l2_ext_control[1];
            var tried = await session.VIDIOC_TRY_EXT_CTRLS(new v4l2_ext_controls { count = 1 }, new IoctlExtras { Elements = MemoryMarshal.AsBytes(unknown.AsSpan()).ToArray() });
            answers["TRY_EXT_CTRLS id 0"] = Record(tried, tried.Payload.error_idx);
            answers["S_EXT_CTRLS id 0"] = Record(await session.VIDIOC_S_EXT_CTRLS(new v4l2_ext_controls { count = 1 }, new IoctlExtras { Elements = MemoryMarshal.AsBytes(unknown.AsSpan()).ToArray() }));
            answers["G_EXT_CTRLS id 0"] = Record(await session.VIDIOC_G_EXT_CTRLS(new v4l2_ext_controls { count = 1 }, new IoctlExtras { Elements = MemoryMarshal.AsBytes(unknown.AsSpan()).ToArray() }));
            var brightness = new[] { new v4l2_ext_control { id = Constants.V4L2_CID_BRIGHTNESS } };
            var got = await session.VIDIOC_G_EXT_CTRLS(new v4l2_ext_controls { count = 1, controls = ControlsPointer }, new IoctlExtras { Elements = MemoryMarshal.AsBytes(brightness.AsSpan()).ToArray() });
            answers["G_EXT_CTRLS brightness"] = Record(got, (long)got.Payload.controls);

            answers["SUBSCRIBE_EVENT"] = Record(await session.VIDIOC_SUBSCRIBE_EVENT(new v4l2_event_subscription
            {
                type = Constants.V4L2_EVENT_CTRL, id = Constants.V4L2_CID_BRIGHTNESS, flags = Constants.V4L2_EVENT_SUB_FL_SEND_INITIAL,
            }));
            // The camera sends the initial event while serving SUBSCRIBE_EVENT; a second is ample for it to arrive.
            using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(1)))
            {
                var arrived = 0L;
                try
                {
                    var ev = await session.Events.ReadAsync(wait.Token);
                    arrived = ev.type == Constants.V4L2_EVENT_CTRL && ev.id == Constants.V4L2_CID_BRIGHTNESS ? 1 : -1;
                }
                catch (OperationCanceledException)
                {
                }
                answers["initial event"] = new Answer(0, BitConverter.GetBytes(arrived), arrived);
            }

            var granted = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Constants.V4L2_MEMORY_MMAP, count = 2 });
            answers["REQBUFS"] = Record(granted, granted.Payload.capabilities);
            var query = await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = Capture, index = 0, memory = Constants.V4L2_MEMORY_MMAP });
            answers["QUERYBUF 0"] = Record(query, query.Payload.flags);
            // The format S_FMT set, as the request states it (a broken answer must not change what is asked).
            var create = new v4l2_create_buffers { memory = Constants.V4L2_MEMORY_MMAP, count = 0, format = request };
            create.format.fmt.pix.bytesperline = 640 * 2;
            create.format.fmt.pix.sizeimage = YuyvVgaSize;
            var created = await session.VIDIOC_CREATE_BUFS(create);
            answers["CREATE_BUFS"] = Record(created, created.Payload.capabilities);
            answers["QBUF 0"] = Record(await session.VIDIOC_QBUF(new v4l2_buffer { type = Capture, index = 0, memory = Constants.V4L2_MEMORY_MMAP }));
            answers["REQBUFS 0"] = Record(await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Constants.V4L2_MEMORY_MMAP, count = 0 }));

            // A SHARED_PAGES buffer: the driver's userptr value goes out with the guest pages' SG list.
            const uint sizeimage = YuyvVgaSize;
            using var pages = driver.AllocateSharedPages(sizeimage);
            var user = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Constants.V4L2_MEMORY_USERPTR, count = 1 });
            answers["REQBUFS userptr"] = Record(user, user.Payload.capabilities);
            var userBuffer = new v4l2_buffer { type = Capture, index = 0, memory = Constants.V4L2_MEMORY_USERPTR, length = sizeimage };
            userBuffer.m.userptr = UserPtr;
            var userQueued = await session.VIDIOC_QBUF(userBuffer, new IoctlExtras { SgEntries = pages.SgEntries.ToArray() });
            answers["QBUF userptr"] = Record(userQueued, (long)userQueued.Payload.m.userptr);
            var userQuery = await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = Capture, index = 0, memory = Constants.V4L2_MEMORY_USERPTR });
            answers["QUERYBUF userptr"] = Record(userQuery, (long)userQuery.Payload.m.userptr);
            answers["REQBUFS userptr 0"] = Record(await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Constants.V4L2_MEMORY_USERPTR, count = 0 }));
            await session.CloseAsync();
            return answers;
        }
        finally
        {
            device.StopStreams();
            await driver.DisposeAsync();
            await endpoint.DisposeAsync();
        }
    }
}
