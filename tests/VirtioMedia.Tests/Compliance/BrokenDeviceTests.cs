using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Compliance;
using VirtioMedia.Compliance.Reporting;
using VirtioMedia.Compliance.Targets;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Wire;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Tests.Compliance;

/// <summary>
/// The suite fails a device where it breaks a rule, and only that test: small devices with one rule broken each
/// (v4l2-compliance fails the same tests on such drivers).
/// </summary>
[TestClass]
public sealed class BrokenDeviceTests
{
    private static readonly ComplianceOptions Quick = new() { Streaming = false, HostileDriver = false, CommandTimeout = TimeSpan.FromSeconds(1), TestTimeout = TimeSpan.FromSeconds(5) };

    /// <summary>A capture node with one YUYV format at 640x480, and the rule each flag breaks.</summary>
    private sealed class TinyCapture(bool endlessFormats = false, bool shortSizeimage = false, bool hangOnGetFormat = false) : V4l2DeviceHandler<DeviceIoctlContext>
    {
        public override int VIDIOC_ENUM_FMT(DeviceIoctlContext context, ref v4l2_fmtdesc payload)
        {
            if (payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE || (payload.index > 0 && !endlessFormats))
            {
                return Constants.EINVAL;
            }
            // Broken: every index answers, so the list never ends with EINVAL.
            var index = payload.index;
            var type = payload.type;
            payload = default;
            payload.index = index;
            payload.type = type;
            payload.pixelformat = Constants.V4L2_PIX_FMT_YUYV + (endlessFormats ? index : 0);
            "YUYV"u8.CopyTo(payload.description);
            return 0;
        }

        public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload)
        {
            if (hangOnGetFormat)
            {
                Thread.Sleep(TimeSpan.FromSeconds(4));
            }
            return Fill(ref payload);
        }

        public override int VIDIOC_TRY_FMT(DeviceIoctlContext context, ref v4l2_format payload) => Fill(ref payload);

        public override int VIDIOC_S_FMT(DeviceIoctlContext context, ref v4l2_format payload) => Fill(ref payload);

        private int Fill(ref v4l2_format payload)
        {
            if (payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE)
            {
                return Constants.EINVAL;
            }
            payload.fmt = default;
            ref var pix = ref payload.fmt.pix;
            (pix.width, pix.height, pix.pixelformat, pix.field) = (640, 480, Constants.V4L2_PIX_FMT_YUYV, Constants.V4L2_FIELD_NONE);
            pix.bytesperline = 1280;
            // Broken: a YUYV frame of 640x480 needs 614400 bytes.
            pix.sizeimage = shortSizeimage ? 640u * 480 : 1280u * 480;
            pix.colorspace = Constants.V4L2_COLORSPACE_SRGB;
            return 0;
        }
    }

    private static ComplianceTarget Tiny(TinyCapture handler, uint caps = Constants.V4L2_CAP_VIDEO_CAPTURE | Constants.V4L2_CAP_STREAMING) =>
        ComplianceTarget.InProcess(ConfigSpace.Create(caps, 0, "tiny capture"), _ => handler);

    [TestMethod]
    public async Task The_correct_tiny_device_passes_the_format_tests()
    {
        var report = await ComplianceSuite.RunAsync(Tiny(new TinyCapture()), Quick);
        foreach (var name in new[] { "test VIDIOC_ENUM_FMT/FRAMESIZES/FRAMEINTERVALS", "test VIDIOC_G_FMT", "test VIDIOC_TRY_FMT", "test VIDIOC_QUERYCAP" })
        {
            Assert.AreEqual(ComplianceStatus.Ok, report[name].Status, $"{name}: {report[name].Failure}");
        }
    }

    [TestMethod]
    public async Task ENUM_FMT_that_never_ends_in_EINVAL_fails_the_enumeration_test()
    {
        var report = await ComplianceSuite.RunAsync(Tiny(new TinyCapture(endlessFormats: true)), Quick);
        var result = report["test VIDIOC_ENUM_FMT/FRAMESIZES/FRAMEINTERVALS"];
        Assert.AreEqual(ComplianceStatus.Fail, result.Status);
        StringAssert.Contains(result.Failure, "never ends with EINVAL");
        StringAssert.Contains(result.Failure, "v4l2-test-formats.cpp, testEnumFormats");
        Assert.AreEqual(ComplianceStatus.Ok, report["test VIDIOC_QUERYCAP"].Status);
    }

    [TestMethod]
    public async Task A_sizeimage_below_the_frame_fails_the_format_tests()
    {
        var report = await ComplianceSuite.RunAsync(Tiny(new TinyCapture(shortSizeimage: true)), Quick);
        Assert.AreEqual(ComplianceStatus.Ok, report["test VIDIOC_ENUM_FMT/FRAMESIZES/FRAMEINTERVALS"].Status);
        foreach (var name in new[] { "test VIDIOC_G_FMT", "test VIDIOC_TRY_FMT", "test VIDIOC_S_FMT" })
        {
            Assert.AreEqual(ComplianceStatus.Fail, report[name].Status, name);
            StringAssert.Contains(report[name].Failure, "sizeimage 307200 is below the 614400 bytes");
        }
    }

    [TestMethod]
    public async Task Device_caps_without_STREAMING_fail_QUERYCAP()
    {
        var camera = new VirtualCamera(new CameraOptions { Fast = true });
        var target = ComplianceTarget.InProcess(ConfigSpace.Create(Constants.V4L2_CAP_VIDEO_CAPTURE, 0, "no streaming"), camera.CreateHandler);
        var report = await ComplianceSuite.RunAsync(target, Quick);
        Assert.AreEqual(ComplianceStatus.Fail, report["test VIDIOC_QUERYCAP"].Status);
        StringAssert.Contains(report["test VIDIOC_QUERYCAP"].Failure, "V4L2_CAP_STREAMING or V4L2_CAP_READWRITE");
        Assert.AreEqual(ComplianceStatus.Fail, report["test VIDIOC_REQBUFS/CREATE_BUFS/QUERYBUF"].Status);
        StringAssert.Contains(report["test VIDIOC_REQBUFS/CREATE_BUFS/QUERYBUF"].Failure, "lacks V4L2_CAP_STREAMING");
    }

    // v4l2-compliance fails QUERYCAP on such a device ("string not 0-terminated", v4l2-compliance.cpp check_string):
    // the Linux driver copies the configuration's 32 card bytes into QUERYCAP as they are.
    [TestMethod]
    public async Task A_card_of_32_bytes_without_a_NUL_fails_QUERYCAP()
    {
        var camera = new VirtualCamera(new CameraOptions { Fast = true });
        var config = camera.Config;
        ((System.Span<byte>)config.card).Fill((byte)'c');
        var report = await ComplianceSuite.RunAsync(ComplianceTarget.InProcess(config, camera.CreateHandler), Quick);
        Assert.AreEqual(ComplianceStatus.Fail, report["test VIDIOC_QUERYCAP"].Status);
        StringAssert.Contains(report["test VIDIOC_QUERYCAP"].Failure, "card is not NUL-terminated");
        // The same name through ConfigSpace.Create keeps 31 bytes and its NUL, and passes.
        var created = await ComplianceSuite.RunAsync(ComplianceTarget.InProcess(ConfigSpace.Create(config.device_caps, 0, new string('c', 32)), camera.CreateHandler), Quick);
        Assert.AreEqual(ComplianceStatus.Ok, created["test VIDIOC_QUERYCAP"].Status, created["test VIDIOC_QUERYCAP"].Failure);
    }

    [TestMethod]
    public async Task A_device_that_hangs_fails_the_test_it_hangs_in_and_the_suite_carries_on()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var report = await ComplianceSuite.RunAsync(Tiny(new TinyCapture(hangOnGetFormat: true)), Quick);
        var result = report["test VIDIOC_G_FMT"];
        Assert.AreEqual(ComplianceStatus.Fail, result.Status);
        StringAssert.Contains(result.Failure, "did not answer within the bounded wait");
        // Every later test still ran, and ENUM_FMT, which never calls G_FMT, still passed.
        Assert.AreEqual(ComplianceSuite.AllTests.Count(t => !t.Streaming && t.Group != "Hostile driver"), report.Total);
        Assert.AreEqual(ComplianceStatus.Ok, report["test VIDIOC_ENUM_FMT/FRAMESIZES/FRAMEINTERVALS"].Status);
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(120), $"the suite took {clock.Elapsed}");
    }
}

/// <summary>
/// A back-end not built on the runtime's device endpoint, which breaks the virtio-media statements the endpoint keeps
/// for every handler: it answers every OPEN with session id 7 and every other command "success" with no payload. The
/// suite's virtio-media and hostile-driver tests must fail it.
/// </summary>
[TestClass]
public sealed class BrokenBackendTests
{
    private sealed class YesSayingBackend : ComplianceTarget
    {
        public override string Description => "yes-saying back-end";

        internal override Task<TargetConnection> ConnectAsync(CancellationToken cancellationToken)
        {
            var transport = new VirtioMedia.Runtime.Transport.InProcessTransport();
            transport.Config = ConfigSpace.Create(Constants.V4L2_CAP_VIDEO_CAPTURE | Constants.V4L2_CAP_STREAMING, 0, "yes");
            var stop = new CancellationTokenSource();
            var loop = Task.Run(async () =>
            {
                var queue = transport.CommandQueue;
                while (!stop.IsCancellationRequested)
                {
                    while (queue.TryPop(out var chain))
                    {
                        var command = chain.Readable.Count > 0 && chain.Readable[0].Length >= 4
                            ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(transport.Memory.GetSpan(chain.Readable[0].Address, 4))
                            : 0;
                        var answer = new byte[16];
                        answer[8] = 7; // OPEN: session id 7, every time
                        var length = command == Constants.VIRTIO_MEDIA_CMD_OPEN ? 16 : 8;
                        var room = chain.Writable.Count > 0 ? (int)Math.Min(chain.Writable[0].Length, (uint)length) : 0;
                        if (room > 0)
                        {
                            answer.AsSpan(0, room).CopyTo(transport.Memory.GetSpan(chain.Writable[0].Address, (ulong)room));
                        }
                        if (queue.Push(chain, (uint)room))
                        {
                            transport.CommandInterruptToDriver.Notify();
                        }
                    }
                    await Task.Delay(1);
                }
            });
            return Task.FromResult(new TargetConnection(transport.Driver, async () =>
            {
                await stop.CancelAsync();
                await loop;
                transport.Dispose();
            }));
        }
    }

    [TestMethod]
    public async Task A_back_end_that_reuses_session_ids_and_writes_no_payloads_fails_the_statements_it_breaks()
    {
        var report = await ComplianceSuite.RunAsync(new YesSayingBackend(), new ComplianceOptions { Streaming = false, CommandTimeout = TimeSpan.FromSeconds(1), TestTimeout = TimeSpan.FromSeconds(5) });
        Assert.AreEqual(ComplianceStatus.Fail, report["test Open device"].Status);
        StringAssert.Contains(report["test Open device"].Failure, "already open");
        Assert.AreEqual(ComplianceStatus.Fail, report["test second /dev/video open"].Status);
        Assert.AreEqual(ComplianceStatus.Fail, report["test V4L2 ioctls"].Status);
        StringAssert.Contains(report["test V4L2 ioctls"].Failure, "wrote 8 bytes");
        Assert.AreEqual(ComplianceStatus.Fail, report["test Unsupported ioctls"].Status);
        Assert.AreEqual(ComplianceStatus.Fail, report["test unknown command codes"].Status);
        StringAssert.Contains(report["test unknown command codes"].Failure, "0 (success), not an errno");
        Assert.AreEqual(ComplianceStatus.Fail, report["test invalid ioctls"].Status, "DQBUF and the other replaced ioctls answered success");
    }
}
