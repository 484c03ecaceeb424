using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Compliance;
using VirtioMedia.Compliance.MSTest;
using VirtioMedia.Compliance.Reporting;
using VirtioMedia.Compliance.Targets;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Tests.Compliance;

/// <summary>The sample camera in every configuration the host offers passes the compliance suite in process.</summary>
[TestClass]
public sealed class CameraComplianceSuiteTests
{
    public TestContext TestContext { get; set; } = null!;

    internal static ComplianceTarget Camera(CameraOptions options, ulong sharedMemory = 48UL << 20)
    {
        var camera = new VirtualCamera(options);
        return ComplianceTarget.InProcess(transport => camera.CreateEndpoint(transport), _ => camera.StopStreams(),
            new InProcessTargetOptions { SharedMemorySize = sharedMemory });
    }

    public static IEnumerable<object[]> Configurations =>
    [
        ["single-planar", CameraApi.SinglePlanar, null!, MemoryTypes.All],
        ["multi-planar", CameraApi.MultiPlanar, null!, MemoryTypes.All],
        ["single-planar NV12", CameraApi.SinglePlanar, new[] { Constants.V4L2_PIX_FMT_NV12 }, MemoryTypes.All],
        ["multi-planar NV12M", CameraApi.MultiPlanar, new[] { Constants.V4L2_PIX_FMT_NV12M }, MemoryTypes.All],
        ["mmap only", CameraApi.SinglePlanar, null!, MemoryTypes.Mmap],
        ["mmap and shared pages (Linux's driver)", CameraApi.MultiPlanar, null!, MemoryTypes.Mmap | MemoryTypes.SharedPages],
    ];

    [TestMethod]
    [DynamicData(nameof(Configurations))]
    public async Task The_camera_passes(string name, CameraApi api, uint[]? formats, MemoryTypes memory)
    {
        var report = await ComplianceAssert.PassesAsync(Camera(new CameraOptions { Fast = true, Api = api, PixelFormats = formats, Memory = memory }));
        TestContext.WriteLine($"{name}: {report.TotalsLine}");
        Assert.AreEqual(ComplianceStatus.Ok, report["test MMAP (no poll)"].Status);
        Assert.AreEqual(memory.HasFlag(MemoryTypes.SharedPages) ? ComplianceStatus.Ok : ComplianceStatus.NotSupported, report["test USERPTR (no poll)"].Status);
        Assert.AreEqual(memory.HasFlag(MemoryTypes.VirtioObject) ? ComplianceStatus.Ok : ComplianceStatus.NotSupported, report["test DMABUF (no poll)"].Status);
    }

    // Without shared memory region 0 the camera offers no MMAP buffers, which v4l2-compliance requires of every
    // streaming node: the real guest run fails REQBUFS and MMAP streaming there, and so does the suite, and nothing else.
    [TestMethod]
    public async Task Without_shared_memory_only_the_MMAP_requirement_fails()
    {
        var report = await ComplianceSuite.RunAsync(Camera(new CameraOptions { Fast = true }, sharedMemory: 0));
        using var text = new StringWriter();
        report.WriteText(text);
        TestContext.WriteLine(text.ToString());
        var failed = report.Tests.Where(t => t.Status == ComplianceStatus.Fail).Select(t => t.Name).ToArray();
        CollectionAssert.AreEquivalent(new[] { "test VIDIOC_REQBUFS/CREATE_BUFS/QUERYBUF", "test MMAP (no poll)" }, failed, text.ToString());
        Assert.AreEqual(ComplianceStatus.Ok, report["test USERPTR (no poll)"].Status);
    }
}
