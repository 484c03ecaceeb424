using System;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Compliance;
using VirtioMedia.Compliance.Reporting;
using VirtioMedia.Compliance.Targets;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Samples.Camera;
using VirtioMedia.TestDevices;

namespace VirtioMedia.Tests.Compliance;

/// <summary>
/// The hostile-driver probe "test bad buffer references": the sample camera refuses every buffer it never gave out,
/// and a device that trusts what the driver names (as a careless proxy would, forwarding it) fails the probe.
/// </summary>
[TestClass]
public sealed class BufferReferenceProbeTests
{
    private const string Probe = "test bad buffer references";

    private static readonly ComplianceOptions OnlyProbe = new() { Streaming = false, Only = [Probe], CommandTimeout = TimeSpan.FromSeconds(2), TestTimeout = TimeSpan.FromSeconds(20) };

    /// <summary>Answers success for a QBUF of any index past the two buffers the probe asks for, without looking.</summary>
    private sealed class TrustsBufferIndex(V4l2DeviceHandler<DeviceIoctlContext> inner) : ForwardingDeviceHandler(inner)
    {
        public override int VIDIOC_QBUF(DeviceIoctlContext context, ref v4l2_buffer payload) =>
            payload.index >= 2 ? 0 : base.VIDIOC_QBUF(context, ref payload);
    }

    /// <summary>Answers success for a SHARED_PAGES QBUF on a SHARED_PAGES queue without reading its SG entries.</summary>
    private sealed class TrustsSharedPages(V4l2DeviceHandler<DeviceIoctlContext> inner) : ForwardingDeviceHandler(inner)
    {
        private uint _memory;

        public override int VIDIOC_REQBUFS(DeviceIoctlContext context, ref v4l2_requestbuffers payload)
        {
            _memory = payload.memory;
            return base.VIDIOC_REQBUFS(context, ref payload);
        }

        public override int VIDIOC_QBUF(DeviceIoctlContext context, ref v4l2_buffer payload) =>
            payload.memory == Constants.V4L2_MEMORY_USERPTR && _memory == payload.memory ? 0 : base.VIDIOC_QBUF(context, ref payload);
    }

    private static async Task<ComplianceTestResult> RunAsync(CameraOptions options, Func<V4l2DeviceHandler<DeviceIoctlContext>, V4l2DeviceHandler<DeviceIoctlContext>> wrap)
    {
        var camera = new VirtualCamera(options);
        try
        {
            var report = await ComplianceSuite.RunAsync(ComplianceTarget.InProcess(camera.Config, session => wrap(camera.CreateHandler(session))), OnlyProbe);
            return report.Tests.Single(test => test.Name == Probe);
        }
        finally
        {
            camera.StopStreams();
        }
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public async Task The_sample_camera_refuses_every_bad_buffer_reference(bool multiPlanar)
    {
        var result = await RunAsync(new CameraOptions { Api = multiPlanar ? CameraApi.MultiPlanar : CameraApi.SinglePlanar }, handler => handler);
        Assert.AreEqual(ComplianceStatus.Ok, result.Status, result.Failure);
    }

    [TestMethod]
    public async Task A_device_that_trusts_a_buffer_index_fails_the_probe()
    {
        var result = await RunAsync(new CameraOptions(), handler => new TrustsBufferIndex(handler));
        Assert.AreEqual(ComplianceStatus.Fail, result.Status);
        StringAssert.Contains(result.Failure, "index 2 of 2 buffers");
    }

    [TestMethod]
    public async Task A_device_that_trusts_shared_pages_fails_the_probe()
    {
        var result = await RunAsync(new CameraOptions(), handler => new TrustsSharedPages(handler));
        Assert.AreEqual(ComplianceStatus.Fail, result.Status);
        StringAssert.Contains(result.Failure, "SG entry lies outside guest memory");
    }
}
