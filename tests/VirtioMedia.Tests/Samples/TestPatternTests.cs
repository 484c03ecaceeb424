using System;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Tests.Samples;

/// <summary>The camera's test pattern on its own: determinism, colours against BT.601, geometry of flips and motion.</summary>
[TestClass]
public sealed class TestPatternTests
{
    private const int Width = 640;
    private const int Height = 480;
    // Row 200 is below the frame counter (which sits in the top-left corner), so it holds bars only.
    private const int BarRow = 200;

    [TestMethod]
    public void Rendering_is_deterministic_and_depends_on_the_frame()
    {
        foreach (var format in CameraFormats.PixelFormats)
        {
            var first = Render(format, 7, PatternControls.Default);
            Render(format, 8, PatternControls.Default with { Hue = 90, VerticalFlip = true });
            var again = Render(format, 7, PatternControls.Default);
            CollectionAssert.AreEqual(first.Plane0, again.Plane0, $"{format:X8}: same inputs, same bytes (no state left from other renders)");
            CollectionAssert.AreEqual(first.Plane1, again.Plane1);
            var next = Render(format, 8, PatternControls.Default);
            CollectionAssert.AreNotEqual(first.Plane0, next.Plane0, $"{format:X8}: the pattern moves");
        }
    }

    [TestMethod]
    public void Colour_bars_follow_the_BT601_equations()
    {
        var yuyv = Render(Constants.V4L2_PIX_FMT_YUYV, 0, PatternControls.Default).Plane0;
        var rgb = Render(Constants.V4L2_PIX_FMT_RGB24, 0, PatternControls.Default).Plane0;
        // Frame 0 is not scrolled: bar k covers columns [k*80, (k+1)*80) of 640. 75% yellow, cyan, magenta, blue.
        (int X, double R, double G, double B)[] samples = [(120, 191, 191, 0), (200, 0, 191, 191), (360, 191, 0, 191), (520, 0, 0, 191)];
        foreach (var (x, r, g, b) in samples)
        {
            // BT.601 studio range, written out from the recommendation's coefficients.
            var expectedY = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255;
            var expectedCb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255;
            var expectedCr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255;
            var pair = BarRow * Width * 2 + x / 2 * 4;
            var y = yuyv[pair + (x % 2) * 2];
            var cb = yuyv[pair + 1];
            var cr = yuyv[pair + 3];
            Assert.AreEqual(expectedY, y, 1.0, $"Y at x={x}");
            Assert.AreEqual(expectedCb, cb, 1.0, $"Cb at x={x}");
            Assert.AreEqual(expectedCr, cr, 1.0, $"Cr at x={x}");

            // And back: the RGB24 frame carries the inverse transform of the same Y'CbCr.
            var red = 1.164 * (y - 16) + 1.596 * (cr - 128);
            var green = 1.164 * (y - 16) - 0.392 * (cb - 128) - 0.813 * (cr - 128);
            var blue = 1.164 * (y - 16) + 2.017 * (cb - 128);
            var pixel = BarRow * Width * 3 + x * 3;
            Assert.AreEqual(Math.Clamp(red, 0, 255), rgb[pixel], 2.0, $"R at x={x}");
            Assert.AreEqual(Math.Clamp(green, 0, 255), rgb[pixel + 1], 2.0, $"G at x={x}");
            Assert.AreEqual(Math.Clamp(blue, 0, 255), rgb[pixel + 2], 2.0, $"B at x={x}");
            Assert.AreEqual(r, rgb[pixel], 3.0, $"the bar's own red at x={x}");
            Assert.AreEqual(g, rgb[pixel + 1], 3.0);
            Assert.AreEqual(b, rgb[pixel + 2], 3.0);
        }
    }

    [TestMethod]
    public void Brightness_saturation_and_hue_act_on_luma_and_chroma()
    {
        var plain = Render(Constants.V4L2_PIX_FMT_YUYV, 0, PatternControls.Default).Plane0;
        var bright = Render(Constants.V4L2_PIX_FMT_YUYV, 0, PatternControls.Default with { Brightness = 178 }).Plane0;
        var grey = Render(Constants.V4L2_PIX_FMT_YUYV, 0, PatternControls.Default with { Saturation = 0 }).Plane0;
        var rotated = Render(Constants.V4L2_PIX_FMT_YUYV, 0, PatternControls.Default with { Hue = 180 }).Plane0;
        var yellow = BarRow * Width * 2 + 120 / 2 * 4;
        Assert.AreEqual(plain[yellow] + 50, bright[yellow], "brightness 178 adds 50 to luma");
        Assert.AreEqual(128, grey[yellow + 1], "no saturation: neutral chroma");
        Assert.AreEqual(128, grey[yellow + 3]);
        Assert.AreEqual(plain[yellow], grey[yellow], "saturation leaves luma alone");
        Assert.AreEqual(128 - (plain[yellow + 1] - 128), rotated[yellow + 1], 1.0, "a half turn of hue negates Cb");
        Assert.AreEqual(128 - (plain[yellow + 3] - 128), rotated[yellow + 3], 1.0, "and Cr");
    }

    [TestMethod]
    public void Flips_mirror_the_picture_and_frames_scroll()
    {
        var plain = Render(Constants.V4L2_PIX_FMT_RGB24, 123, PatternControls.Default).Plane0;
        var mirrored = Render(Constants.V4L2_PIX_FMT_RGB24, 123, PatternControls.Default with { HorizontalFlip = true }).Plane0;
        var upsideDown = Render(Constants.V4L2_PIX_FMT_RGB24, 123, PatternControls.Default with { VerticalFlip = true }).Plane0;
        for (var y = 0; y < Height; y++)
        {
            for (var x = 0; x < Width; x++)
            {
                for (var c = 0; c < 3; c++)
                {
                    var original = plain[(y * Width + x) * 3 + c];
                    if (mirrored[(y * Width + (Width - 1 - x)) * 3 + c] != original || upsideDown[((Height - 1 - y) * Width + x) * 3 + c] != original)
                    {
                        Assert.Fail($"pixel ({x},{y}) is not mirrored");
                    }
                }
            }
        }

        // Bars move left from one frame to the next: a bar row of frame 1 is a rotation of frame 0's.
        var frame0 = Render(Constants.V4L2_PIX_FMT_RGB24, 0, PatternControls.Default).Plane0.AsSpan(BarRow * Width * 3, Width * 3).ToArray();
        var frame1 = Render(Constants.V4L2_PIX_FMT_RGB24, 1, PatternControls.Default).Plane0.AsSpan(BarRow * Width * 3, Width * 3).ToArray();
        var rotation = -1;
        for (var shift = 1; shift < Width && rotation < 0; shift++)
        {
            var matches = true;
            for (var x = 0; x < Width && matches; x++)
            {
                matches = frame1.AsSpan(x * 3, 3).SequenceEqual(frame0.AsSpan((x + shift) % Width * 3, 3));
            }
            rotation = matches ? shift : -1;
        }
        Assert.IsTrue(rotation > 0, "frame 1's bars are frame 0's shifted left");
    }

    [TestMethod]
    public void The_frame_counter_changes_with_the_frame_number_only_in_its_corner()
    {
        // Frames 0 and 640/8 = 80 have the same bar position at 640 wide (8 pixels a frame), so only the counter differs.
        var a = Render(Constants.V4L2_PIX_FMT_NV12, 0, PatternControls.Default).Plane0;
        var b = Render(Constants.V4L2_PIX_FMT_NV12, 80, PatternControls.Default).Plane0;
        var differing = 0;
        for (var y = 0; y < Height; y++)
        {
            for (var x = 0; x < Width; x++)
            {
                if (a[y * Width + x] != b[y * Width + x])
                {
                    differing++;
                    Assert.IsTrue(y < Height / 8 && x < Width / 2, $"({x},{y}) changed outside the counter's corner");
                }
            }
        }
        Assert.IsTrue(differing > 20, "the digits differ");
    }

    [TestMethod]
    public void Bad_arguments_are_refused()
    {
        var plane = new byte[Width * Height * 2];
        Assert.ThrowsExactly<ArgumentException>(() => TestPattern.Render(Constants.V4L2_PIX_FMT_MJPEG, Width, Height, [Width * 2], 0, PatternControls.Default, plane, default));
        Assert.ThrowsExactly<ArgumentException>(() => TestPattern.Render(Constants.V4L2_PIX_FMT_YUYV, Width, Height, [Width], 0, PatternControls.Default, plane, default));
        Assert.ThrowsExactly<ArgumentException>(() => TestPattern.Render(Constants.V4L2_PIX_FMT_YUYV, Width, Height + 1, [Width * 2], 0, PatternControls.Default, plane, default));
        Assert.ThrowsExactly<ArgumentException>(() => TestPattern.Render(Constants.V4L2_PIX_FMT_NV12M, Width, Height, [Width], 0, PatternControls.Default, plane, default));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TestPattern.Render(Constants.V4L2_PIX_FMT_YUYV, Width, Height, [Width * 2], 0, PatternControls.Default with { Contrast = 256 }, plane, default));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TestPattern.Render(Constants.V4L2_PIX_FMT_YUYV, Width, Height, [Width * 2], -1, PatternControls.Default, plane, default));

        // A wider stride is honoured and its padding is zero.
        var padded = new byte[(Width * 2 + 64) * Height];
        padded.AsSpan().Fill(0xAB);
        TestPattern.Render(Constants.V4L2_PIX_FMT_YUYV, Width, Height, [Width * 2 + 64], 3, PatternControls.Default, padded, default);
        var tight = Render(Constants.V4L2_PIX_FMT_YUYV, 3, PatternControls.Default).Plane0;
        for (var y = 0; y < Height; y++)
        {
            CollectionAssert.AreEqual(tight.AsSpan(y * Width * 2, Width * 2).ToArray(), padded.AsSpan(y * (Width * 2 + 64), Width * 2).ToArray());
            Assert.IsTrue(padded.AsSpan(y * (Width * 2 + 64) + Width * 2, 64).IndexOfAnyExcept((byte)0) < 0);
        }
    }

    private static (byte[] Plane0, byte[] Plane1) Render(uint format, long frame, PatternControls controls)
    {
        int[] strides = format == Constants.V4L2_PIX_FMT_NV12M
            ? [CameraFormats.MinBytesPerLine(format, Width, 0), CameraFormats.MinBytesPerLine(format, Width, 1)]
            : [CameraFormats.MinBytesPerLine(format, Width, 0)];
        var plane0 = new byte[CameraFormats.PlaneSize(format, Height, strides[0], 0)];
        var plane1 = strides.Length > 1 ? new byte[CameraFormats.PlaneSize(format, Height, strides[1], 1)] : [];
        TestPattern.Render(format, Width, Height, strides, frame, controls, plane0, plane1);
        return (plane0, plane1);
    }
}
