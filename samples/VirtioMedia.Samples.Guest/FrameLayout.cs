using System;
using VirtioMedia.Abi;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Samples.Guest;

/// <summary>The format S_FMT settled on: size, buffer type and, per memory plane, stride and size.</summary>
public sealed record FrameLayout(uint PixelFormat, int Width, int Height, uint BufferType, int[] BytesPerLine, uint[] PlaneSizes)
{
    /// <summary>How many memory planes (buffers) a frame uses.</summary>
    public int PlaneCount => PlaneSizes.Length;

    /// <summary>Whether the multi-planar API is in use.</summary>
    public bool IsMultiPlanar => BufferType == Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;

    /// <summary>All planes' bytes.</summary>
    public long FrameBytes
    {
        get
        {
            long total = 0;
            foreach (var size in PlaneSizes)
            {
                total += size;
            }
            return total;
        }
    }

    /// <summary>Reads the layout out of an S_FMT/G_FMT answer, checking that it is one the frames can be read with.</summary>
    public static FrameLayout FromFormat(in v4l2_format format)
    {
        if (format.type == Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE)
        {
            var mp = format.fmt.pix_mp;
            var expected = CameraFormats.IsSupported(mp.pixelformat) ? CameraFormats.PlaneCount(mp.pixelformat) : 0;
            if (mp.num_planes == 0 || mp.num_planes > 8 || (expected != 0 && mp.num_planes != expected))
            {
                throw new GuestException(ExitCodes.DeviceError, $"the device answered {mp.num_planes} planes for {PixelFormatNames.Name(mp.pixelformat)}");
            }
            var strides = new int[mp.num_planes];
            var sizes = new uint[mp.num_planes];
            ReadOnlySpan<v4l2_plane_pix_format> planes = mp.plane_fmt;
            for (var i = 0; i < strides.Length; i++)
            {
                strides[i] = (int)planes[i].bytesperline;
                sizes[i] = planes[i].sizeimage;
            }
            return Checked(new FrameLayout(mp.pixelformat, (int)mp.width, (int)mp.height, format.type, strides, sizes));
        }
        var pix = format.fmt.pix;
        return Checked(new FrameLayout(pix.pixelformat, (int)pix.width, (int)pix.height, format.type, [(int)pix.bytesperline], [pix.sizeimage]));
    }

    private static FrameLayout Checked(FrameLayout layout)
    {
        if (!CameraFormats.IsSupported(layout.PixelFormat))
        {
            throw new GuestException(ExitCodes.DeviceError, $"the device chose format {PixelFormatNames.Name(layout.PixelFormat)}, which this client cannot read");
        }
        if (layout.Width <= 0 || layout.Height <= 0 || layout.Width > 16384 || layout.Height > 16384)
        {
            throw new GuestException(ExitCodes.DeviceError, $"the device answered an impossible frame size {layout.Width}x{layout.Height}");
        }
        for (var plane = 0; plane < layout.PlaneCount; plane++)
        {
            var stride = layout.BytesPerLine[plane];
            if (stride < CameraFormats.MinBytesPerLine(layout.PixelFormat, layout.Width, plane)
                || layout.PlaneSizes[plane] < CameraFormats.PlaneSize(layout.PixelFormat, layout.Height, stride, plane)
                || layout.PlaneSizes[plane] > 256u << 20)
            {
                throw new GuestException(ExitCodes.DeviceError,
                    $"plane {plane} of the format (bytesperline {stride}, sizeimage {layout.PlaneSizes[plane]}) cannot hold {layout.Width}x{layout.Height} {PixelFormatNames.Name(layout.PixelFormat)}");
            }
        }
        return layout;
    }
}
