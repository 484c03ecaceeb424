using System;
using System.Collections.Generic;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Samples.Camera;

/// <summary>
/// The virtual camera as a device: the state every session shares (the picture controls, as on real hardware)
/// and the factory of per-session handlers (<see cref="CameraSession"/>: format, buffers, stream). Control changes
/// are announced to every session that subscribed to them.
/// </summary>
public sealed class VirtualCamera
{
    /// <summary>What the device can do: single- and multi-planar capture, streaming I/O.</summary>
    public const uint DeviceCaps = (uint)(Constants.V4L2_CAP_VIDEO_CAPTURE | Constants.V4L2_CAP_VIDEO_CAPTURE_MPLANE | Constants.V4L2_CAP_STREAMING);

    private readonly object _gate = new();
    private readonly List<CameraSession> _sessions = new();
    private PatternControls _controls = PatternControls.Default;

    /// <summary>A camera with <paramref name="options"/> (defaults when null).</summary>
    public VirtualCamera(CameraOptions? options = null)
    {
        Options = options ?? new CameraOptions();
    }

    /// <summary>How the camera behaves.</summary>
    public CameraOptions Options { get; }

    /// <summary>The configuration space the driver reads (device_caps, device_type 0, card).</summary>
    public virtio_media_config Config => ConfigSpace.Create(DeviceCaps, 0, Options.Card);

    /// <summary>The picture controls in effect now.</summary>
    public PatternControls Controls
    {
        get
        {
            lock (_gate)
            {
                return _controls;
            }
        }
    }

    /// <summary>Creates the endpoint that serves this camera over <paramref name="transport"/>.</summary>
    public DeviceEndpoint CreateEndpoint(IDeviceTransport transport, VirtioObjectRegistry? objects = null) =>
        new(transport, Config, CreateHandler, objects);

    /// <summary>The handler factory for a <see cref="DeviceEndpoint"/>: one <see cref="CameraSession"/> per open session.</summary>
    public V4l2DeviceHandler<DeviceIoctlContext> CreateHandler(DeviceSession session)
    {
        var handler = new CameraSession(this, session);
        lock (_gate)
        {
            _sessions.Add(handler);
        }
        return handler;
    }

    /// <summary>
    /// Stops every session's stream and waits out a frame being rendered: call it before the transport's memory goes
    /// away (an endpoint being torn down does not close its sessions), so no frame is written into unmapped memory.
    /// </summary>
    public void StopStreams()
    {
        CameraSession[] sessions;
        lock (_gate)
        {
            sessions = _sessions.ToArray();
        }
        foreach (var session in sessions)
        {
            session.StopStreaming();
        }
    }

    internal void Forget(CameraSession session)
    {
        lock (_gate)
        {
            _sessions.Remove(session);
        }
    }

    /// <summary>
    /// Applies <paramref name="values"/> (already validated) atomically and announces each control whose value changed
    /// to the subscribed sessions (<paramref name="origin"/> only when it asked for feedback).
    /// </summary>
    internal void SetControls(CameraSession origin, ReadOnlySpan<(CameraControl Control, int Value)> values)
    {
        CameraSession[] listeners;
        Span<bool> changed = stackalloc bool[values.Length];
        lock (_gate)
        {
            var controls = _controls;
            for (var i = 0; i < values.Length; i++)
            {
                var (control, value) = values[i];
                changed[i] = control.Read(controls) != value;
                controls = control.Write(controls, value);
            }
            _controls = controls;
            listeners = _sessions.ToArray();
        }
        for (var i = 0; i < values.Length; i++)
        {
            if (!changed[i])
            {
                continue;
            }
            foreach (var listener in listeners)
            {
                listener.AnnounceControl(values[i].Control, values[i].Value, origin);
            }
        }
    }
}
