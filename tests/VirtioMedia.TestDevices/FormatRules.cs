using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.TestDevices;

/// <summary>ENUM_FMT answers format 0 again at the first index past the last (then EINVAL).</summary>
internal sealed class EnumFmtRepeatsFirstFormat(V4l2DeviceHandler<DeviceIoctlContext> inner, VirtualCamera camera) : ForwardingDeviceHandler(inner)
{
    public override int VIDIOC_ENUM_FMT(DeviceIoctlContext context, ref v4l2_fmtdesc payload)
    {
        var index = payload.index;
        var status = Inner.VIDIOC_ENUM_FMT(context, ref payload);
        if (status == Constants.EINVAL && payload.type == camera.BufferType && index == camera.PixelFormats.Count)
        {
            payload.index = 0;
            status = Inner.VIDIOC_ENUM_FMT(context, ref payload);
            payload.index = index;
        }
        return status;
    }
}

/// <summary>A format answer changed after the camera wrote it: the same change for G_FMT, TRY_FMT and S_FMT.</summary>
internal abstract class FormatAnswerRule(V4l2DeviceHandler<DeviceIoctlContext> inner) : ForwardingDeviceHandler(inner)
{
    public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload) => Break(Inner.VIDIOC_G_FMT(context, ref payload), ref payload);

    public override int VIDIOC_TRY_FMT(DeviceIoctlContext context, ref v4l2_format payload) => Break(Inner.VIDIOC_TRY_FMT(context, ref payload), ref payload);

    public override int VIDIOC_S_FMT(DeviceIoctlContext context, ref v4l2_format payload) => Break(Inner.VIDIOC_S_FMT(context, ref payload), ref payload);

    protected abstract void Break(ref v4l2_format format);

    private int Break(int status, ref v4l2_format payload)
    {
        if (status == 0)
        {
            Break(ref payload);
        }
        return status;
    }
}

/// <summary>bytesperline (of plane 0) half the width: fewer bytes a line than pixels.</summary>
internal sealed class BytesPerLineBelowWidth(V4l2DeviceHandler<DeviceIoctlContext> inner) : FormatAnswerRule(inner)
{
    protected override void Break(ref v4l2_format format)
    {
        if (format.type == Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE)
        {
            format.fmt.pix_mp.plane_fmt[0].bytesperline = format.fmt.pix_mp.width / 2;
        }
        else
        {
            format.fmt.pix.bytesperline = format.fmt.pix.width / 2;
        }
    }
}

/// <summary>field V4L2_FIELD_ANY in the answer.</summary>
internal sealed class FieldAny(V4l2DeviceHandler<DeviceIoctlContext> inner) : FormatAnswerRule(inner)
{
    protected override void Break(ref v4l2_format format)
    {
        if (format.type == Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE)
        {
            format.fmt.pix_mp.field = Constants.V4L2_FIELD_ANY;
        }
        else
        {
            format.fmt.pix.field = Constants.V4L2_FIELD_ANY;
        }
    }
}

/// <summary>G_PARM and S_PARM answer capability 0 (no V4L2_CAP_TIMEPERFRAME); the frame interval still applies.</summary>
internal sealed class ParmWithoutTimePerFrame(V4l2DeviceHandler<DeviceIoctlContext> inner) : ForwardingDeviceHandler(inner)
{
    public override int VIDIOC_G_PARM(DeviceIoctlContext context, ref v4l2_streamparm payload) => Clear(Inner.VIDIOC_G_PARM(context, ref payload), ref payload);

    public override int VIDIOC_S_PARM(DeviceIoctlContext context, ref v4l2_streamparm payload) => Clear(Inner.VIDIOC_S_PARM(context, ref payload), ref payload);

    private static int Clear(int status, ref v4l2_streamparm payload)
    {
        if (status == 0)
        {
            payload.parm.capture.capability = 0;
        }
        return status;
    }
}

/// <summary>ENUM_FRAMESIZES answers a discrete 0x0 size at the first index past the last (then EINVAL).</summary>
internal sealed class FrameSizeZero(V4l2DeviceHandler<DeviceIoctlContext> inner) : ForwardingDeviceHandler(inner)
{
    public override int VIDIOC_ENUM_FRAMESIZES(DeviceIoctlContext context, ref v4l2_frmsizeenum payload)
    {
        var status = Inner.VIDIOC_ENUM_FRAMESIZES(context, ref payload);
        if (status == Constants.EINVAL && payload.index == CameraFormats.FrameSizes.Count && payload.index > 0)
        {
            // Only for a format the camera has: index count - 1 answers for it.
            var last = payload;
            last.index--;
            if (Inner.VIDIOC_ENUM_FRAMESIZES(context, ref last) == 0)
            {
                payload.type = Constants.V4L2_FRMSIZE_TYPE_DISCRETE;
                payload.discrete.width = 0;
                payload.discrete.height = 0;
                return 0;
            }
        }
        return status;
    }
}
