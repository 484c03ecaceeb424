using System;
using System.Collections.Generic;
using VirtioMedia.Abi;

namespace VirtioMedia.Samples.Camera;

/// <summary>
/// What the virtual camera can produce: its pixel formats (per capture API), frame sizes and frame intervals, and the
/// memory layout of a frame (bytes per line and bytes per plane). Device and guest share these rules so both agree on
/// every byte.
/// </summary>
public static class CameraFormats
{
    /// <summary>The smallest frame width.</summary>
    public const int MinWidth = 160;

    /// <summary>The smallest frame height.</summary>
    public const int MinHeight = 120;

    /// <summary>The largest frame width.</summary>
    public const int MaxWidth = 1920;

    /// <summary>The largest frame height.</summary>
    public const int MaxHeight = 1080;

    /// <summary>Widths and heights are kept even, since 4:2:0 and 4:2:2 chroma covers pixel pairs.</summary>
    public const int SizeAlignment = 2;

    private static readonly uint[] Formats =
    [
        Constants.V4L2_PIX_FMT_YUYV,
        Constants.V4L2_PIX_FMT_NV12,
        Constants.V4L2_PIX_FMT_NV12M,
        Constants.V4L2_PIX_FMT_RGB24,
    ];

    // NV12 and NV12M come last: Linux 6.1's V4L2 core names them "Y/UV 4:2:0" and "Y/UV 4:2:0 (N-C)" in ENUM_FMT,
    // while v4l2-compliance 1.22.1 (Debian bookworm's; utils/common/v4l2-pix-formats.h) still expects
    // "Y/CbCr 4:2:0", the name v4l-utils 1.24.0 changed to the kernel's. It stops enumerating at the first
    // mismatch, so the formats before them are still checked.
    private static readonly uint[] SinglePlanarFormats =
    [
        Constants.V4L2_PIX_FMT_YUYV,
        Constants.V4L2_PIX_FMT_RGB24,
        Constants.V4L2_PIX_FMT_NV12,
    ];

    private static readonly uint[] MultiPlanarFormats =
    [
        Constants.V4L2_PIX_FMT_YUYV,
        Constants.V4L2_PIX_FMT_RGB24,
        Constants.V4L2_PIX_FMT_NV12,
        Constants.V4L2_PIX_FMT_NV12M,
    ];

    private static readonly (int Width, int Height)[] Sizes =
    [
        (160, 120),
        (320, 240),
        (640, 480),
        (1280, 720),
        (1920, 1080),
    ];

    private static readonly int[] Rates = [30, 60];

    /// <summary>Every pixel format (fourcc) the camera renders: YUYV, NV12, NV12M, RGB24.</summary>
    public static IReadOnlyList<uint> PixelFormats => Formats;

    /// <summary>The pixel formats ENUM_FMT lists for <paramref name="api"/>, in order; the first is the default.</summary>
    public static IReadOnlyList<uint> PixelFormatsFor(CameraApi api) => api == CameraApi.MultiPlanar ? MultiPlanarFormats : SinglePlanarFormats;

    /// <summary>The discrete frame sizes ENUM_FRAMESIZES lists, smallest first (any even size in range is accepted).</summary>
    public static IReadOnlyList<(int Width, int Height)> FrameSizes => Sizes;

    /// <summary>The frame rates ENUM_FRAMEINTERVALS lists (as intervals 1/rate), slowest first.</summary>
    public static IReadOnlyList<int> FrameRates => Rates;

    /// <summary>Whether <paramref name="pixelformat"/> is one of <see cref="PixelFormats"/>.</summary>
    public static bool IsSupported(uint pixelformat) => Array.IndexOf(Formats, pixelformat) >= 0;

    /// <summary>Whether <paramref name="pixelformat"/> is offered through <paramref name="api"/>.</summary>
    public static bool IsSupported(uint pixelformat, CameraApi api) => Array.IndexOf(api == CameraApi.MultiPlanar ? MultiPlanarFormats : SinglePlanarFormats, pixelformat) >= 0;

    /// <summary>Whether the format keeps its planes in separate buffers, so only the multi-planar API offers it.</summary>
    public static bool IsMultiPlanar(uint pixelformat) => pixelformat == Constants.V4L2_PIX_FMT_NV12M;

    /// <summary>How many buffers (memory planes) one frame of the format uses.</summary>
    public static int PlaneCount(uint pixelformat) => IsMultiPlanar(pixelformat) ? 2 : 1;

    /// <summary>The buffer type of <paramref name="api"/>.</summary>
    public static uint BufferType(CameraApi api) =>
        api == CameraApi.MultiPlanar ? Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE;

    /// <summary>The API a node needs to offer <paramref name="pixelformat"/> (single-planar unless the format needs more planes).</summary>
    public static CameraApi ApiFor(uint pixelformat) => IsMultiPlanar(pixelformat) ? CameraApi.MultiPlanar : CameraApi.SinglePlanar;

    /// <summary>The buffer type a format is captured through on a node of <see cref="ApiFor"/>.</summary>
    public static uint BufferType(uint pixelformat) => BufferType(ApiFor(pixelformat));

    /// <summary>The description ENUM_FMT gives: the name Linux 6.1's V4L2 core has for the fourcc (it writes its own name over a driver's).</summary>
    public static string Describe(uint pixelformat) => pixelformat switch
    {
        Constants.V4L2_PIX_FMT_YUYV => "YUYV 4:2:2",
        Constants.V4L2_PIX_FMT_NV12 => "Y/UV 4:2:0",
        Constants.V4L2_PIX_FMT_NV12M => "Y/UV 4:2:0 (N-C)",
        Constants.V4L2_PIX_FMT_RGB24 => "24-bit RGB 8-8-8",
        _ => throw Unsupported(pixelformat),
    };

    /// <summary>Clamps a requested size into range and rounds it down to <see cref="SizeAlignment"/>.</summary>
    public static (int Width, int Height) ClampSize(long width, long height) =>
        ((int)Math.Clamp(width, MinWidth, MaxWidth) & ~(SizeAlignment - 1),
         (int)Math.Clamp(height, MinHeight, MaxHeight) & ~(SizeAlignment - 1));

    /// <summary>
    /// The minimal bytes per line of memory plane <paramref name="plane"/> (for single-planar NV12 both the luma and
    /// the interleaved chroma rows use the same stride, plane 0's).
    /// </summary>
    public static int MinBytesPerLine(uint pixelformat, int width, int plane = 0) => pixelformat switch
    {
        Constants.V4L2_PIX_FMT_YUYV => (width + 1) / 2 * 4,
        Constants.V4L2_PIX_FMT_RGB24 => width * 3,
        Constants.V4L2_PIX_FMT_NV12 => width,
        // NV12M chroma rows hold (width+1)/2 UV pairs.
        Constants.V4L2_PIX_FMT_NV12M => plane == 0 ? width : (width + 1) / 2 * 2,
        _ => throw Unsupported(pixelformat),
    };

    /// <summary>The bytes memory plane <paramref name="plane"/> of a frame needs with the stride <paramref name="bytesPerLine"/>.</summary>
    public static int PlaneSize(uint pixelformat, int height, int bytesPerLine, int plane = 0) => pixelformat switch
    {
        Constants.V4L2_PIX_FMT_YUYV or Constants.V4L2_PIX_FMT_RGB24 => bytesPerLine * height,
        Constants.V4L2_PIX_FMT_NV12 => bytesPerLine * (height + (height + 1) / 2),
        Constants.V4L2_PIX_FMT_NV12M => bytesPerLine * (plane == 0 ? height : (height + 1) / 2),
        _ => throw Unsupported(pixelformat),
    };

    private static ArgumentException Unsupported(uint pixelformat) =>
        new($"pixel format 0x{pixelformat:X8} is not one the camera produces", nameof(pixelformat));
}
