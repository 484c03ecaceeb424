using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.TestDevices;

/// <summary>REQBUFS and CREATE_BUFS answer capabilities without V4L2_BUF_CAP_SUPPORTS_MMAP; MMAP buffers still work.</summary>
internal sealed class BufferCapsWithoutMmap(V4l2DeviceHandler<DeviceIoctlContext> inner) : ForwardingDeviceHandler(inner)
{
    private const uint SupportsMmap = Constants.V4L2_BUF_CAP_SUPPORTS_MMAP;

    public override int VIDIOC_REQBUFS(DeviceIoctlContext context, ref v4l2_requestbuffers payload)
    {
        var status = Inner.VIDIOC_REQBUFS(context, ref payload);
        payload.capabilities &= ~SupportsMmap;
        return status;
    }

    public override int VIDIOC_CREATE_BUFS(DeviceIoctlContext context, ref v4l2_create_buffers payload)
    {
        var status = Inner.VIDIOC_CREATE_BUFS(context, ref payload);
        payload.capabilities &= ~SupportsMmap;
        return status;
    }
}

/// <summary>QUERYBUF answers flags without a timestamp type.</summary>
internal sealed class QueryBufWithoutTimestampType(V4l2DeviceHandler<DeviceIoctlContext> inner) : ForwardingDeviceHandler(inner)
{
    public override int VIDIOC_QUERYBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        var status = Inner.VIDIOC_QUERYBUF(context, ref payload);
        if (status == 0)
        {
            payload.flags &= ~(uint)Constants.V4L2_BUF_FLAG_TIMESTAMP_MASK;
        }
        return status;
    }
}
