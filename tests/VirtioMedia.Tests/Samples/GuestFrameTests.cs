using System;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Samples.Camera;
using VirtioMedia.Samples.Guest;

namespace VirtioMedia.Tests.Samples;

/// <summary>The guest's frame check and its conversion to RGB for PNG files.</summary>
[TestClass]
public sealed class GuestFrameTests
{
    private const int Width = 320;
    private const int Height = 240;

    private static readonly FrameLayout Yuyv = new(Constants.V4L2_PIX_FMT_YUYV, Width, Height, Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, [Width * 2], [Width * 2 * Height]);
    private static readonly PatternControls Brighter = PatternControls.Default with { Brightness = 200 };

    [TestMethod]
    public void The_verifier_accepts_the_pattern_and_locates_a_changed_byte()
    {
        var verifier = new FrameVerifier(Yuyv, PatternControls.Default);
        var frame = Render(Yuyv, 7, PatternControls.Default);
        Assert.IsTrue(verifier.Check(7, 0, _ => frame));

        frame[Width * 2 * 5 + 11] ^= 1;
        Assert.IsFalse(verifier.Check(7, 0, _ => frame));
        StringAssert.Contains(verifier.FirstMismatch, "frame 7: plane 0 byte " + (Width * 2 * 5 + 11) + " (row 5, column byte 11)");
        Assert.IsFalse(verifier.Check(8, 0, _ => Render(Yuyv, 7, PatternControls.Default)), "the frame counter is part of the picture");
        Assert.AreEqual(1, verifier.Matched);
        Assert.AreEqual(2, verifier.Mismatched);
    }

    [TestMethod]
    public void A_control_change_binds_buffers_queued_after_it_and_never_goes_back()
    {
        var verifier = new FrameVerifier(Yuyv, PatternControls.Default);
        Assert.IsFalse(verifier.Check(0, 0, _ => Render(Yuyv, 0, Brighter)), "no change yet: the new brightness is wrong");
        verifier.Change(Brighter);
        // Queued before the change: either picture is right.
        Assert.IsTrue(verifier.Check(1, 0, _ => Render(Yuyv, 1, PatternControls.Default)));
        Assert.IsTrue(verifier.Check(2, 0, _ => Render(Yuyv, 2, Brighter)));
        // Once the new picture was seen, the old one is wrong even for a buffer queued before the change.
        Assert.IsFalse(verifier.Check(3, 0, _ => Render(Yuyv, 3, PatternControls.Default)));
        // Queued after the change: only the new picture is right.
        var fresh = new FrameVerifier(Yuyv, PatternControls.Default);
        fresh.Change(Brighter);
        Assert.IsFalse(fresh.Check(4, 1, _ => Render(Yuyv, 4, PatternControls.Default)));
        Assert.IsTrue(fresh.Check(5, 1, _ => Render(Yuyv, 5, Brighter)));
    }

    [TestMethod]
    [DataRow("YUYV")]
    [DataRow("NV12")]
    [DataRow("NV12M")]
    public void Yuv_frames_convert_to_the_rgb_the_camera_renders_for_RGB24(string format)
    {
        // 1280x720: bars, scroll and counter cells fall on even columns and rows, so 4:2:2 and 4:2:0 chroma loses
        // nothing and the conversion must reproduce the camera's own RGB24 picture exactly, padding in the strides
        // included.
        const int width = 1280, height = 720, padding = 64;
        PixelFormatNames.TryParse(format, out var fourcc);
        var planes = CameraFormats.PlaneCount(fourcc);
        var strides = new int[planes];
        var sizes = new uint[planes];
        for (var plane = 0; plane < planes; plane++)
        {
            strides[plane] = CameraFormats.MinBytesPerLine(fourcc, width, plane) + padding;
            sizes[plane] = (uint)CameraFormats.PlaneSize(fourcc, height, strides[plane], plane);
        }
        var layout = new FrameLayout(fourcc, width, height, CameraFormats.BufferType(fourcc), strides, sizes);
        var controls = new PatternControls(150, 140, 170, 30, HorizontalFlip: true, VerticalFlip: false);
        var plane0 = new byte[sizes[0]];
        var plane1 = new byte[planes > 1 ? sizes[1] : 0];
        TestPattern.Render(fourcc, width, height, strides, 1234, controls, plane0, plane1);
        var converted = new byte[width * height * 3];
        FrameImage.ToRgb(layout, plane0, plane1, converted);

        var rgb = new byte[width * height * 3];
        TestPattern.Render(Constants.V4L2_PIX_FMT_RGB24, width, height, [width * 3], 1234, controls, rgb, default);
        var at = converted.AsSpan().CommonPrefixLength(rgb);
        Assert.AreEqual(rgb.Length, at, at < rgb.Length ? $"pixel ({at / 3 % width}, {at / 3 / width}) channel {at % 3}: {converted[at]}, the camera's RGB24 has {rgb[at]}" : "");
    }

    [TestMethod]
    [DataRow("brightness=200@150", "brightness", 200, 150)]
    [DataRow("Horizontal Flip=1@0", "Horizontal Flip", 1, 0)]
    [DataRow("hue=-90@7", "hue", -90, 7)]
    public void Control_changes_parse(string text, string name, int value, int frame)
    {
        Assert.IsTrue(ControlChange.TryParse(text, out var change, out var error), error);
        Assert.AreEqual(new ControlChange(name, value, frame), change);
    }

    [TestMethod]
    [DataRow("brightness")]
    [DataRow("brightness=200")]
    [DataRow("=1@2")]
    [DataRow("brightness=x@2")]
    [DataRow("brightness=1@-2")]
    [DataRow("brightness=1@")]
    public void Malformed_control_changes_are_refused(string text)
    {
        Assert.IsFalse(ControlChange.TryParse(text, out _, out var error));
        StringAssert.Contains(error, "'" + text + "'");
    }

    private static byte[] Render(FrameLayout layout, long frame, PatternControls controls)
    {
        var bytes = new byte[layout.PlaneSizes[0]];
        TestPattern.Render(layout.PixelFormat, layout.Width, layout.Height, layout.BytesPerLine, frame, controls, bytes, default);
        return bytes;
    }
}
