using System;
using System.Collections.Generic;
using System.Linq;
using VirtioMedia.Abi;

namespace VirtioMedia.Samples.Camera;

/// <summary>A negotiated capture format: pixel format, size, and the stride and size of each memory plane.</summary>
public readonly record struct FrameFormat
{
    private FrameFormat(uint pixelformat, int width, int height)
    {
        Pixelformat = pixelformat;
        Width = width;
        Height = height;
        PlaneCount = CameraFormats.PlaneCount(pixelformat);
        BytesPerLine0 = CameraFormats.MinBytesPerLine(pixelformat, width, 0);
        PlaneSize0 = CameraFormats.PlaneSize(pixelformat, height, BytesPerLine0, 0);
        if (PlaneCount > 1)
        {
            BytesPerLine1 = CameraFormats.MinBytesPerLine(pixelformat, width, 1);
            PlaneSize1 = CameraFormats.PlaneSize(pixelformat, height, BytesPerLine1, 1);
        }
    }

    /// <summary>The fourcc.</summary>
    public uint Pixelformat { get; }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>How many memory planes a buffer has.</summary>
    public int PlaneCount { get; }

    /// <summary>Stride of plane 0.</summary>
    public int BytesPerLine0 { get; }

    /// <summary>Stride of plane 1 (0 when single-planar).</summary>
    public int BytesPerLine1 { get; }

    /// <summary>Bytes of plane 0 (sizeimage when single-planar).</summary>
    public int PlaneSize0 { get; }

    /// <summary>Bytes of plane 1 (0 when single-planar).</summary>
    public int PlaneSize1 { get; }

    /// <summary>Stride of plane <paramref name="plane"/>.</summary>
    public int BytesPerLine(int plane) => plane == 0 ? BytesPerLine0 : BytesPerLine1;

    /// <summary>Bytes of plane <paramref name="plane"/>.</summary>
    public int PlaneSize(int plane) => plane == 0 ? PlaneSize0 : PlaneSize1;

    /// <summary>
    /// The format the camera settles on for a request on a node of buffer type <paramref name="bufferType"/>: the
    /// requested pixel format when that API offers it (else the API's first format), the size clamped into range and
    /// made even.
    /// </summary>
    public static FrameFormat Negotiate(uint bufferType, uint pixelformat, long width, long height)
    {
        var api = bufferType == Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE ? CameraApi.MultiPlanar : CameraApi.SinglePlanar;
        return Negotiate(CameraFormats.PixelFormatsFor(api), pixelformat, width, height);
    }

    /// <summary>As <see cref="Negotiate(uint, uint, long, long)"/> for a node offering <paramref name="offered"/> (in ENUM_FMT order).</summary>
    public static FrameFormat Negotiate(IReadOnlyList<uint> offered, uint pixelformat, long width, long height)
    {
        ArgumentNullException.ThrowIfNull(offered);
        if (!offered.Contains(pixelformat))
        {
            pixelformat = offered[0];
        }
        var (w, h) = CameraFormats.ClampSize(width, height);
        return new FrameFormat(pixelformat, w, h);
    }

    /// <summary>Writes the format into a single-planar <c>v4l2_pix_format</c>.</summary>
    public void Fill(ref v4l2_pix_format pix)
    {
        pix.width = (uint)Width;
        pix.height = (uint)Height;
        pix.pixelformat = Pixelformat;
        pix.field = Constants.V4L2_FIELD_NONE;
        pix.bytesperline = (uint)BytesPerLine0;
        pix.sizeimage = (uint)PlaneSize0;
        pix.colorspace = Constants.V4L2_COLORSPACE_SMPTE170M;
        pix.priv = 0;
        pix.flags = 0;
        pix.ycbcr_enc = Constants.V4L2_YCBCR_ENC_601;
        pix.quantization = Quantization;
        pix.xfer_func = 0;
    }

    /// <summary>Writes the format into a multi-planar <c>v4l2_pix_format_mplane</c>.</summary>
    public void Fill(ref v4l2_pix_format_mplane pix)
    {
        pix.width = (uint)Width;
        pix.height = (uint)Height;
        pix.pixelformat = Pixelformat;
        pix.field = Constants.V4L2_FIELD_NONE;
        pix.colorspace = Constants.V4L2_COLORSPACE_SMPTE170M;
        pix.num_planes = (byte)PlaneCount;
        ((Span<byte>)pix.reserved).Clear();
        Span<v4l2_plane_pix_format> planes = pix.plane_fmt;
        planes.Clear();
        for (var i = 0; i < PlaneCount; i++)
        {
            planes[i].bytesperline = (uint)BytesPerLine(i);
            planes[i].sizeimage = (uint)PlaneSize(i);
        }
        pix.flags = 0;
        pix.ycbcr_enc = (byte)Constants.V4L2_YCBCR_ENC_601;
        pix.quantization = (byte)Quantization;
        pix.xfer_func = 0;
    }

    // RGB24 carries full-range values, the Y'CbCr formats limited range (BT.601).
    private uint Quantization => Pixelformat == Constants.V4L2_PIX_FMT_RGB24 ? Constants.V4L2_QUANTIZATION_FULL_RANGE : Constants.V4L2_QUANTIZATION_LIM_RANGE;
}
