using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Fuzzing;

/// <summary>A device that accepts what it is given, so the endpoint encodes payloads and trailers back, and posts an
/// event on STREAMON so the event path runs too.</summary>
internal sealed class FuzzDevice : V4l2DeviceHandler<DeviceIoctlContext>
{
    public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload) => 0;

    public override int VIDIOC_S_FMT(DeviceIoctlContext context, ref v4l2_format payload) => 0;

    public override int VIDIOC_QBUF(DeviceIoctlContext context, ref v4l2_buffer payload) => 0;

    public override int VIDIOC_S_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) => 0;

    public override int VIDIOC_G_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) => 0;

    public override int VIDIOC_STREAMON(DeviceIoctlContext context, ref int payload)
    {
        context.Session.EmitEvent(new v4l2_event { type = Constants.V4L2_EVENT_SOURCE_CHANGE });
        return 0;
    }
}
