using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.TestDevices;

/// <summary>How a <see cref="OutputParmRules"/> device answers S_PARM.</summary>
public enum OutputParmBehaviour
{
    /// <summary>As vivid's output node: G_PARM answers V4L2_CAP_TIMEPERFRAME and 1/30 s, S_PARM answers ENOTTY (vivid's
    /// vidioc_s_parm serves capture nodes only), and ENUM_FRAMEINTERVALS answers ENOTTY.</summary>
    SetParmNotSupported,

    /// <summary>Broken: as <see cref="SetParmNotSupported"/>, but ENUM_FRAMEINTERVALS lists 1/30 s for each frame size,
    /// so S_PARM must work (v4l2-test-formats.cpp, testParmType: ret &amp;&amp; has_frmintervals).</summary>
    SetParmNotSupportedWithIntervals,

    /// <summary>Broken: S_PARM answers EINVAL (v4l2-test-formats.cpp, testParmType: "got error when setting parms").</summary>
    SetParmRefused,
}

/// <summary>An output node's handler with G/S_PARM (and, for one behaviour, ENUM_FRAMEINTERVALS) answered here;
/// every other ioctl is the inner handler's.</summary>
public sealed class OutputParmRules(V4l2DeviceHandler<DeviceIoctlContext> inner, uint bufferType, OutputParmBehaviour behaviour) : ForwardingDeviceHandler(inner)
{
    /// <inheritdoc/>
    public override int VIDIOC_G_PARM(DeviceIoctlContext context, ref v4l2_streamparm payload)
    {
        if (payload.type != bufferType)
        {
            return Constants.EINVAL;
        }
        payload.parm.output = default;
        payload.parm.output.capability = Constants.V4L2_CAP_TIMEPERFRAME;
        payload.parm.output.timeperframe.numerator = 1;
        payload.parm.output.timeperframe.denominator = 30;
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_S_PARM(DeviceIoctlContext context, ref v4l2_streamparm payload) =>
        behaviour == OutputParmBehaviour.SetParmRefused ? Constants.EINVAL : Constants.ENOTTY;

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FRAMEINTERVALS(DeviceIoctlContext context, ref v4l2_frmivalenum payload)
    {
        if (behaviour != OutputParmBehaviour.SetParmNotSupportedWithIntervals)
        {
            return Constants.ENOTTY;
        }
        // One interval for each discrete size ENUM_FRAMESIZES lists, none for other sizes.
        for (uint index = 0; index < 64; index++)
        {
            var size = new v4l2_frmsizeenum { pixel_format = payload.pixel_format, index = index };
            if (Inner.VIDIOC_ENUM_FRAMESIZES(context, ref size) != 0)
            {
                return Constants.EINVAL;
            }
            if (size.type == Constants.V4L2_FRMSIZE_TYPE_DISCRETE && size.discrete.width == payload.width && size.discrete.height == payload.height)
            {
                if (payload.index != 0)
                {
                    return Constants.EINVAL;
                }
                payload.type = Constants.V4L2_FRMIVAL_TYPE_DISCRETE;
                payload.discrete.numerator = 1;
                payload.discrete.denominator = 30;
                return 0;
            }
        }
        return Constants.EINVAL;
    }
}
