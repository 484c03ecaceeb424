using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// The smallest device that streams: one capture format that G_FMT reports and S_FMT sets, REQBUFS granting what is
/// asked, and a QBUF that, while streaming, hands the buffer straight back with a DQBUF event (no frame is written).
/// It measures the runtime itself: allocation tests and the runtime benchmarks (which link this file) use it.
/// </summary>
internal sealed class LoopbackDevice : V4l2DeviceHandler<DeviceIoctlContext>
{
    private v4l2_pix_format _format = new() { width = 64, height = 48, pixelformat = Constants.V4L2_PIX_FMT_GREY, bytesperline = 64, sizeimage = 64 * 48 };
    private uint _buffers;
    private bool _streaming;
    private uint _sequence;

    public static virtio_media_config Config => VirtioMedia.Runtime.Wire.ConfigSpace.Create(
        (uint)(Constants.V4L2_CAP_VIDEO_CAPTURE | Constants.V4L2_CAP_STREAMING), 0, "virtio-media loopback");

    public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload)
    {
        if (payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE)
        {
            return Constants.EINVAL;
        }
        payload.fmt.pix = _format;
        return 0;
    }

    public override int VIDIOC_S_FMT(DeviceIoctlContext context, ref v4l2_format payload)
    {
        if (payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE || payload.fmt.pix.width == 0 || payload.fmt.pix.height == 0 || payload.fmt.pix.width > 4096 || payload.fmt.pix.height > 4096)
        {
            return Constants.EINVAL;
        }
        _format.width = payload.fmt.pix.width;
        _format.height = payload.fmt.pix.height;
        _format.bytesperline = _format.width;
        _format.sizeimage = _format.width * _format.height;
        payload.fmt.pix = _format;
        return 0;
    }

    public override int VIDIOC_REQBUFS(DeviceIoctlContext context, ref v4l2_requestbuffers payload)
    {
        if (payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE || payload.count > 32)
        {
            return Constants.EINVAL;
        }
        _buffers = payload.count;
        return 0;
    }

    public override int VIDIOC_QBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        if (payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE || payload.index >= _buffers)
        {
            return Constants.EINVAL;
        }
        if (_streaming)
        {
            var done = payload;
            done.bytesused = _format.sizeimage;
            done.sequence = _sequence++;
            done.flags = Constants.V4L2_BUF_FLAG_DONE;
            context.Session.EmitDqbuf(done);
        }
        return 0;
    }

    public override int VIDIOC_STREAMON(DeviceIoctlContext context, ref int payload)
    {
        _streaming = true;
        return 0;
    }

    public override int VIDIOC_STREAMOFF(DeviceIoctlContext context, ref int payload)
    {
        _streaming = false;
        return 0;
    }
}
