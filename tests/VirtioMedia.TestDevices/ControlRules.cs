using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.TestDevices;

/// <summary>QUERYCTRL and QUERY_EXT_CTRL answer step 0 for brightness (an integer control with step 1).</summary>
internal sealed class QueryCtrlStepZero(V4l2DeviceHandler<DeviceIoctlContext> inner) : ForwardingDeviceHandler(inner)
{
    public override int VIDIOC_QUERYCTRL(DeviceIoctlContext context, ref v4l2_queryctrl payload)
    {
        var status = Inner.VIDIOC_QUERYCTRL(context, ref payload);
        if (status == 0 && payload.id == Constants.V4L2_CID_BRIGHTNESS)
        {
            payload.step = 0;
        }
        return status;
    }

    public override int VIDIOC_QUERY_EXT_CTRL(DeviceIoctlContext context, ref v4l2_query_ext_ctrl payload)
    {
        var status = Inner.VIDIOC_QUERY_EXT_CTRL(context, ref payload);
        if (status == 0 && payload.id == Constants.V4L2_CID_BRIGHTNESS)
        {
            payload.step = 0;
        }
        return status;
    }
}

/// <summary>S_CTRL of a value out of range answers success with that value (nothing is stored) instead of ERANGE.</summary>
internal sealed class SetCtrlOutOfRangeAccepted(V4l2DeviceHandler<DeviceIoctlContext> inner) : ForwardingDeviceHandler(inner)
{
    public override int VIDIOC_S_CTRL(DeviceIoctlContext context, ref v4l2_control payload)
    {
        var status = Inner.VIDIOC_S_CTRL(context, ref payload);
        return status == Constants.ERANGE ? 0 : status;
    }
}

/// <summary>A failing TRY_EXT_CTRLS answers error_idx = count (the "before any control" value of S/G) instead of the failing index.</summary>
internal sealed class TryExtCtrlsErrorIndex(V4l2DeviceHandler<DeviceIoctlContext> inner) : ForwardingDeviceHandler(inner)
{
    public override int VIDIOC_TRY_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload)
    {
        var status = Inner.VIDIOC_TRY_EXT_CTRLS(context, ref payload);
        if (status != 0)
        {
            payload.error_idx = payload.count;
        }
        return status;
    }
}

/// <summary>SUBSCRIBE_EVENT drops V4L2_EVENT_SUB_FL_SEND_INITIAL before the camera sees it.</summary>
internal sealed class ControlEventWithoutInitial(V4l2DeviceHandler<DeviceIoctlContext> inner) : ForwardingDeviceHandler(inner)
{
    public override int VIDIOC_SUBSCRIBE_EVENT(DeviceIoctlContext context, ref v4l2_event_subscription payload)
    {
        var flags = payload.flags;
        payload.flags &= ~(uint)Constants.V4L2_EVENT_SUB_FL_SEND_INITIAL;
        var status = Inner.VIDIOC_SUBSCRIBE_EVENT(context, ref payload);
        payload.flags = flags;
        return status;
    }
}
