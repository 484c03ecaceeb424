using System;
using System.Collections.Generic;
using System.Text;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Samples.Camera;

/// <summary>Formats, frame sizes, frame intervals and stream parameters: only the node's buffer type is served.</summary>
public sealed partial class CameraSession
{
    private uint BufferType => _stream.Queue.Type;

    private IReadOnlyList<uint> Formats => _camera.PixelFormats;

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FMT(DeviceIoctlContext context, ref v4l2_fmtdesc payload)
    {
        var formats = Formats;
        if (payload.type != BufferType || payload.index >= formats.Count)
        {
            return Constants.EINVAL;
        }
        var format = formats[(int)payload.index];
        payload.pixelformat = format;
        payload.flags = 0;
        payload.mbus_code = 0;
        ((Span<uint>)payload.reserved).Clear();
        Span<byte> description = payload.description;
        description.Clear();
        Encoding.ASCII.GetBytes(CameraFormats.Describe(format), description.Slice(0, description.Length - 1));
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload)
    {
        if (payload.type != BufferType)
        {
            return Constants.EINVAL;
        }
        lock (_stream.Gate)
        {
            Write(_stream.Format, ref payload);
        }
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_TRY_FMT(DeviceIoctlContext context, ref v4l2_format payload) => TryFormat(ref payload, out _);

    /// <inheritdoc/>
    public override int VIDIOC_S_FMT(DeviceIoctlContext context, ref v4l2_format payload)
    {
        lock (_stream.Gate)
        {
            var status = TryFormat(ref payload, out var format);
            if (status != 0)
            {
                return status;
            }
            // The format is the node's; it cannot change under allocated buffers (videobuf2: vb2_is_busy).
            if (_stream.Queue.Count > 0)
            {
                return Constants.EBUSY;
            }
            _stream.Format = format;
            return 0;
        }
    }

    private int TryFormat(ref v4l2_format payload, out FrameFormat format)
    {
        format = default;
        if (payload.type != BufferType)
        {
            return Constants.EINVAL;
        }
        format = BufferType == Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
            ? FrameFormat.Negotiate(Formats, payload.fmt.pix_mp.pixelformat, payload.fmt.pix_mp.width, payload.fmt.pix_mp.height)
            : FrameFormat.Negotiate(Formats, payload.fmt.pix.pixelformat, payload.fmt.pix.width, payload.fmt.pix.height);
        Write(format, ref payload);
        return 0;
    }

    private void Write(FrameFormat format, ref v4l2_format payload)
    {
        // Every byte of the union is written, so TRY_FMT(G_FMT) compares equal to G_FMT (v4l2-test-formats.cpp, matchFormats).
        payload.fmt = default;
        if (BufferType == Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE)
        {
            format.Fill(ref payload.fmt.pix_mp);
        }
        else
        {
            format.Fill(ref payload.fmt.pix);
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FRAMESIZES(DeviceIoctlContext context, ref v4l2_frmsizeenum payload)
    {
        if (!Contains(Formats, payload.pixel_format) || payload.index >= CameraFormats.FrameSizes.Count)
        {
            return Constants.EINVAL;
        }
        var (width, height) = CameraFormats.FrameSizes[(int)payload.index];
        payload.type = Constants.V4L2_FRMSIZE_TYPE_DISCRETE;
        payload.discrete.width = (uint)width;
        payload.discrete.height = (uint)height;
        ((Span<uint>)payload.reserved).Clear();
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FRAMEINTERVALS(DeviceIoctlContext context, ref v4l2_frmivalenum payload)
    {
        // Any size S_FMT would keep unchanged has the same intervals; other sizes have none
        // (v4l2-test-formats.cpp, testEnumFrameSizes asks for width + 1 and expects EINVAL).
        if (!Contains(Formats, payload.pixel_format) || payload.index >= CameraFormats.FrameRates.Count
            || CameraFormats.ClampSize(payload.width, payload.height) != ((int)payload.width, (int)payload.height))
        {
            return Constants.EINVAL;
        }
        payload.type = Constants.V4L2_FRMIVAL_TYPE_DISCRETE;
        payload.discrete.numerator = 1;
        payload.discrete.denominator = (uint)CameraFormats.FrameRates[(int)payload.index];
        ((Span<uint>)payload.reserved).Clear();
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_G_PARM(DeviceIoctlContext context, ref v4l2_streamparm payload)
    {
        if (payload.type != BufferType)
        {
            return Constants.EINVAL;
        }
        lock (_stream.Gate)
        {
            FillParm(ref payload.parm.capture);
        }
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_S_PARM(DeviceIoctlContext context, ref v4l2_streamparm payload)
    {
        if (payload.type != BufferType)
        {
            return Constants.EINVAL;
        }
        ref var interval = ref payload.parm.capture.timeperframe;
        lock (_stream.Gate)
        {
            // A zero fraction asks for the nominal rate; otherwise the supported rate nearest the request.
            var rate = CameraFormats.FrameRates[0];
            if (interval.numerator != 0 && interval.denominator != 0)
            {
                var requested = (double)interval.denominator / interval.numerator;
                foreach (var candidate in CameraFormats.FrameRates)
                {
                    if (Math.Abs(candidate - requested) < Math.Abs(rate - requested))
                    {
                        rate = candidate;
                    }
                }
            }
            _stream.FramesPerSecond = rate;
            FillParm(ref payload.parm.capture);
        }
        return 0;
    }

    private static bool Contains(IReadOnlyList<uint> formats, uint pixelformat)
    {
        for (var i = 0; i < formats.Count; i++)
        {
            if (formats[i] == pixelformat)
            {
                return true;
            }
        }
        return false;
    }

    // No read() I/O, so readbuffers stays 0; reserved fields are zeroed (v4l2-test-formats.cpp, testParmStruct).
    private void FillParm(ref v4l2_captureparm capture)
    {
        capture = default;
        capture.capability = Constants.V4L2_CAP_TIMEPERFRAME;
        capture.timeperframe.numerator = 1;
        capture.timeperframe.denominator = (uint)_stream.FramesPerSecond;
    }
}
