using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Tests.Runtime;

/// <summary>A handler whose S_CTRL emits a control event with the id the value names: a device that floods events
/// of ever new ids, which no per-subscription bound stops.</summary>
internal sealed class EventFloodHandler : V4l2DeviceHandler<DeviceIoctlContext>
{
    public static virtio_media_config Config => VirtioMedia.Runtime.Wire.ConfigSpace.Create(
        (uint)(Constants.V4L2_CAP_VIDEO_CAPTURE | Constants.V4L2_CAP_STREAMING), 0, "virtio-media event flood");

    public override int VIDIOC_S_CTRL(DeviceIoctlContext context, ref v4l2_control payload)
    {
        var ev = new v4l2_event { type = Constants.V4L2_EVENT_CTRL, id = (uint)payload.value };
        ev.u.ctrl.changes = Constants.V4L2_EVENT_CTRL_CH_VALUE;
        ev.u.ctrl.value = payload.value;
        context.Session.EmitEvent(ev);
        return 0;
    }
}
