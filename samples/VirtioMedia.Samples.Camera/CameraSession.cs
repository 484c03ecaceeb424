using System;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Samples.Camera;

/// <summary>
/// One open session of the <see cref="VirtualCamera"/> (an open file of its node). Formats, frame interval, buffers
/// and the stream are the node's, kept by the endpoint's <see cref="CameraStream"/> and shared with the other
/// sessions; the queue belongs to the session that allocated its buffers (the others get EBUSY for buffer ioctls).
/// The controls are the camera's; the event subscriptions are this session's own. Split by concern: formats and
/// stream parameters, buffers and streaming, controls, events.
/// </summary>
public sealed partial class CameraSession : V4l2DeviceHandler<DeviceIoctlContext>, IDisposable
{
    /// <summary>The most buffers REQBUFS grants.</summary>
    public const uint MaxBuffers = 16;

    private readonly VirtualCamera _camera;
    private readonly CameraStream _stream;
    private bool _disposed;

    internal CameraSession(VirtualCamera camera, CameraStream stream, DeviceSession session)
    {
        _camera = camera;
        _stream = stream;
        Session = session;
    }

    /// <summary>The device session this handler serves.</summary>
    public DeviceSession Session { get; }

    /// <summary>Frames the node has rendered on this endpoint so far (by whichever session streamed).</summary>
    public long FramesProduced => _stream.FramesProduced;

    /// <summary>Stops the stream and frees the buffers when this session owns them; called when the session closes.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _stream.Release(this);
        _camera.Forget(this);
    }

    // ---- input ----

    /// <inheritdoc/>
    public override int VIDIOC_ENUMINPUT(DeviceIoctlContext context, ref v4l2_input payload)
    {
        if (payload.index != 0)
        {
            return Constants.EINVAL;
        }
        var index = payload.index;
        payload = default;
        payload.index = index;
        "Test Pattern"u8.CopyTo(payload.name);
        payload.type = Constants.V4L2_INPUT_TYPE_CAMERA;
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_G_INPUT(DeviceIoctlContext context, ref int payload)
    {
        payload = 0;
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_S_INPUT(DeviceIoctlContext context, ref int payload) => payload == 0 ? 0 : Constants.EINVAL;
}
