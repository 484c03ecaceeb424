using System;
using System.IO;
using VirtioMedia.Abi;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Samples.Guest;

/// <summary>
/// Checks a file of frames that another V4L2 application captured from the sample camera (each frame's planes one
/// after another, tightly packed, as <c>v4l2-ctl --stream-to</c> writes them) against the camera's test pattern,
/// byte for byte: frame k of the file must be the pattern's frame k with the default controls, as a fresh stream
/// gives it. This is how captures made inside a real Linux guest are checked on the host.
/// </summary>
public static class FrameFileVerification
{
    /// <summary>Verifies <paramref name="path"/>; returns an exit code and writes one line of verdict.</summary>
    public static int Run(string path, uint pixelformat, int width, int height, int frames, TextWriter output)
    {
        if (!CameraFormats.IsSupported(pixelformat))
        {
            output.WriteLine($"{PixelFormatNames.Name(pixelformat)} is not a format of the camera");
            return ExitCodes.Usage;
        }
        var layout = Layout(pixelformat, width, height);
        long length;
        try
        {
            length = new FileInfo(path).Length;
        }
        catch (Exception failure) when (failure is IOException or UnauthorizedAccessException)
        {
            output.WriteLine($"cannot read {path}: {failure.Message}");
            return ExitCodes.Usage;
        }
        if (length != layout.FrameBytes * frames)
        {
            output.WriteLine($"{path} holds {length} bytes, not {frames} frames of {layout.FrameBytes} bytes ({PixelFormatNames.Name(pixelformat)} {width}x{height})");
            return ExitCodes.VerificationFailed;
        }

        var verifier = new FrameVerifier(layout, PatternControls.Default);
        var planes = new byte[layout.PlaneCount][];
        for (var plane = 0; plane < planes.Length; plane++)
        {
            planes[plane] = new byte[layout.PlaneSizes[plane]];
        }
        using (var file = File.OpenRead(path))
        {
            for (var frame = 0; frame < frames; frame++)
            {
                foreach (var plane in planes)
                {
                    file.ReadExactly(plane);
                }
                verifier.Check(frame, 0, plane => planes[plane]);
            }
        }
        if (verifier.Mismatched != 0)
        {
            output.WriteLine($"{verifier.Mismatched} of {frames} frames differ from the test pattern; first: {verifier.FirstMismatch}");
            return ExitCodes.VerificationFailed;
        }
        output.WriteLine($"{frames} of {frames} frames match the test pattern byte for byte ({PixelFormatNames.Name(pixelformat)} {width}x{height})");
        return ExitCodes.Success;
    }

    // The layout the camera gives a format with the smallest stride, which is what S_FMT settles on when the
    // application asks for no padding (v4l2-ctl asks for none).
    private static FrameLayout Layout(uint pixelformat, int width, int height)
    {
        var planeCount = CameraFormats.PlaneCount(pixelformat);
        var strides = new int[planeCount];
        var sizes = new uint[planeCount];
        for (var plane = 0; plane < planeCount; plane++)
        {
            strides[plane] = CameraFormats.MinBytesPerLine(pixelformat, width, plane);
            sizes[plane] = (uint)CameraFormats.PlaneSize(pixelformat, height, strides[plane], plane);
        }
        var type = planeCount > 1 ? Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE;
        return new FrameLayout(pixelformat, width, height, type, strides, sizes);
    }
}
