using System;
using System.Threading;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// A device that behaves like the reference implementation's weak spots: it overwrites every pointer and
/// placeholder field it is handed (planes/controls pointers, m.userptr, fd). The endpoint must still return
/// the driver's values.
/// </summary>
internal sealed class PointerClobberingDevice : V4l2DeviceHandler<DeviceIoctlContext>
{
    public int SeenQuerybufPayloadLength { get; private set; }

    public override int VIDIOC_QUERYBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        SeenQuerybufPayloadLength = context.Message.Payload.Length;
        payload.m.planes = 0;
        foreach (ref var plane in context.Planes)
        {
            plane.length = 4096;
            plane.m.mem_offset = 0x1000;
        }
        return 0;
    }

    public override int VIDIOC_QBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        payload.m.userptr = 0;
        foreach (ref var plane in context.Planes)
        {
            plane.m.userptr = 0;
        }
        payload.flags = (uint)Constants.V4L2_BUF_FLAG_QUEUED;
        return 0;
    }

    public override int VIDIOC_G_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload)
    {
        payload.controls = 0;
        foreach (ref var control in context.Controls)
        {
            control.value = 42;
        }
        return 0;
    }

    public override int VIDIOC_EXPBUF(DeviceIoctlContext context, ref v4l2_exportbuffer payload)
    {
        payload.fd = -1;
        context.SetUuid(0, Guid.NewGuid());
        return 0;
    }

    /// <summary>Fails without touching the payload.</summary>
    public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload) => Constants.EINVAL;
}

/// <summary>A device whose VIDIOC_G_INPUT raises a session error and then blocks until released, so the
/// session's CLOSE waits behind it.</summary>
internal sealed class ErrorThenBlockDevice(ManualResetEventSlim release) : V4l2DeviceHandler<DeviceIoctlContext>
{
    public override int VIDIOC_G_INPUT(DeviceIoctlContext context, ref int payload)
    {
        context.Session.RaiseError(Constants.EIO);
        release.Wait(TimeSpan.FromSeconds(10));
        return 0;
    }
}
