using System;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Samples.Camera;

/// <summary>Buffers and streaming: the node's <see cref="BufferQueue"/> keeps the V4L2 rules; the camera supplies the sizes.</summary>
public sealed partial class CameraSession
{
    /// <inheritdoc/>
    public override int VIDIOC_REQBUFS(DeviceIoctlContext context, ref v4l2_requestbuffers payload)
    {
        lock (_stream.Gate)
        {
            var format = _stream.Format;
            Span<ulong> sizes = [(ulong)format.PlaneSize0, (ulong)format.PlaneSize1];
            var status = _stream.Queue.RequestBuffers(context, ref payload, sizes.Slice(0, format.PlaneCount));
            _stream.TrackOwner(this);
            return status;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_CREATE_BUFS(DeviceIoctlContext context, ref v4l2_create_buffers payload)
    {
        lock (_stream.Gate)
        {
            var format = _stream.Format;
            Span<ulong> sizes = stackalloc ulong[format.PlaneCount];
            if (payload.format.type == BufferType && payload.count > 0 && !RequestedSizes(in payload.format, format, sizes))
            {
                // The format asks for fewer planes or smaller ones than the current format needs
                // (v4l2-test-buffers.cpp, testReqBufs: CREATE_BUFS with half the sizeimage is EINVAL).
                return Constants.EINVAL;
            }
            var status = _stream.Queue.CreateBuffers(context, ref payload, sizes);
            _stream.TrackOwner(this);
            return status;
        }
    }

    // The plane sizes a CREATE_BUFS format asks for: each at least what the current format needs.
    private bool RequestedSizes(in v4l2_format requested, FrameFormat current, Span<ulong> sizes)
    {
        if (BufferType == Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE)
        {
            var pix = requested.fmt.pix_mp;
            if (pix.num_planes != current.PlaneCount)
            {
                return false;
            }
            for (var plane = 0; plane < current.PlaneCount; plane++)
            {
                sizes[plane] = pix.plane_fmt[plane].sizeimage;
            }
        }
        else
        {
            sizes[0] = requested.fmt.pix.sizeimage;
        }
        for (var plane = 0; plane < current.PlaneCount; plane++)
        {
            if (sizes[plane] < (ulong)current.PlaneSize(plane))
            {
                return false;
            }
        }
        return true;
    }

    /// <inheritdoc/>
    public override int VIDIOC_QUERYBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        lock (_stream.Gate)
        {
            return _stream.Queue.QueryBuffer(context, ref payload);
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_QBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        lock (_stream.Gate)
        {
            var status = _stream.Queue.QueueBuffer(context, ref payload);
            if (status == 0)
            {
                _stream.BufferQueued();
            }
            return status;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_EXPBUF(DeviceIoctlContext context, ref v4l2_exportbuffer payload)
    {
        lock (_stream.Gate)
        {
            var status = _stream.Queue.ExportBuffer(context, ref payload, out var uuid);
            if (status == 0)
            {
                context.SetUuid(0, uuid);
            }
            return status;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_STREAMON(DeviceIoctlContext context, ref int payload)
    {
        lock (_stream.Gate)
        {
            return _stream.StreamOn(context, (uint)payload);
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_STREAMOFF(DeviceIoctlContext context, ref int payload)
    {
        lock (_stream.Gate)
        {
            return _stream.StreamOff(context, (uint)payload);
        }
    }
}
