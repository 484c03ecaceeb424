using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Samples.Camera;

/// <summary>Controls: the camera's <see cref="ControlSet"/> keeps the V4L2 rules (control class, EACCES, error_idx).</summary>
public sealed partial class CameraSession
{
    /// <inheritdoc/>
    public override int VIDIOC_QUERYCTRL(DeviceIoctlContext context, ref v4l2_queryctrl payload) => _camera.ControlSet.QueryControl(ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERY_EXT_CTRL(DeviceIoctlContext context, ref v4l2_query_ext_ctrl payload) => _camera.ControlSet.QueryExtControl(ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERYMENU(DeviceIoctlContext context, ref v4l2_querymenu payload) => ControlSet.QueryMenu(ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_CTRL(DeviceIoctlContext context, ref v4l2_control payload) => _camera.ControlSet.GetControl(ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_CTRL(DeviceIoctlContext context, ref v4l2_control payload) => _camera.ControlSet.SetControl(ref payload, this);

    /// <inheritdoc/>
    public override int VIDIOC_G_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) =>
        _camera.ControlSet.GetExtControls(ref payload, context.Controls);

    /// <inheritdoc/>
    public override int VIDIOC_TRY_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) =>
        _camera.ControlSet.TryExtControls(ref payload, context.Controls);

    /// <inheritdoc/>
    public override int VIDIOC_S_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) =>
        _camera.ControlSet.SetExtControls(ref payload, context.Controls, this);
}
