using System;
using System.IO;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Samples.Camera;
using VirtioMedia.Samples.Guest;

namespace VirtioMedia.Tests.Samples;

/// <summary>
/// <c>verify-file</c>, which checks frames captured inside a real guest: the file framing v4l2-ctl writes (planes of a
/// frame one after another, no padding), frame k against pattern frame k, and the verdicts it gives.
/// </summary>
[TestClass]
public sealed class FrameFileVerificationTests
{
    private const int Width = 160;
    private const int Height = 120;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void Multi_planar_frames_are_read_plane_after_plane_and_all_must_match()
    {
        // NV12M: a Y plane of width x height bytes, then a CbCr plane of half that, per frame (sizes by hand).
        var path = WriteFrames(Constants.V4L2_PIX_FMT_NV12M, frames: 3, planeSizes: [Width * Height, Width * Height / 2]);
        Assert.AreEqual(3L * Width * Height * 3 / 2, new FileInfo(path).Length);
        var (exit, verdict) = Verify(path, "NV12M", 3);
        Assert.AreEqual(ExitCodes.Success, exit, verdict);
        StringAssert.Contains(verdict, "3 of 3 frames match");

        // One byte of frame 2's CbCr plane.
        using (var file = File.OpenWrite(path))
        {
            file.Position = 2L * Width * Height * 3 / 2 + Width * Height + 17;
            file.WriteByte(0x5A);
        }
        (exit, verdict) = Verify(path, "NV12M", 3);
        Assert.AreEqual(ExitCodes.VerificationFailed, exit);
        StringAssert.Contains(verdict, "1 of 3 frames differ");
        StringAssert.Contains(verdict, "frame 2: plane 1 byte 17");
    }

    [TestMethod]
    public void A_file_that_does_not_hold_the_frames_asked_for_fails_with_its_size()
    {
        var path = WriteFrames(Constants.V4L2_PIX_FMT_YUYV, frames: 2, planeSizes: [Width * 2 * Height]);
        var (exit, verdict) = Verify(path, "YUYV", 3);
        Assert.AreEqual(ExitCodes.VerificationFailed, exit);
        StringAssert.Contains(verdict, $"holds {2 * Width * 2 * Height} bytes, not 3 frames of {Width * 2 * Height} bytes");

        // The same bytes read as another format of another frame size do not pass either.
        (exit, _) = Verify(path, "YUYV", 2);
        Assert.AreEqual(ExitCodes.Success, exit);
        (exit, verdict) = Verify(path, "RGB24", 2);
        Assert.AreEqual(ExitCodes.VerificationFailed, exit, verdict);
    }

    private string WriteFrames(uint fourcc, int frames, int[] planeSizes)
    {
        var path = Path.Combine(TestContext.TestRunDirectory ?? Path.GetTempPath(), $"frames-{Guid.NewGuid():N}.raw");
        var planes = Array.ConvertAll(planeSizes, size => new byte[size]);
        int[] strides = planes.Length == 1 ? [planeSizes[0] / Height] : [Width, Width];
        using var file = File.Create(path);
        for (var frame = 0; frame < frames; frame++)
        {
            TestPattern.Render(fourcc, Width, Height, strides, frame, PatternControls.Default, planes[0], planes.Length > 1 ? planes[1] : default);
            foreach (var plane in planes)
            {
                file.Write(plane);
            }
        }
        return path;
    }

    private static (int Exit, string Verdict) Verify(string path, string format, int frames)
    {
        using var output = new StringWriter();
        var exit = Program.RunAsync(["verify-file", path, "--format", format, "--size", $"{Width}x{Height}", "--frames", frames.ToString(System.Globalization.CultureInfo.InvariantCulture)],
            output, output, default).GetAwaiter().GetResult();
        return (exit, output.ToString());
    }
}
