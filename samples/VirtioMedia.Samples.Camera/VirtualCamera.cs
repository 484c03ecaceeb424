using System;
using System.Collections.Generic;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Samples.Camera;

/// <summary>
/// The virtual camera as a device. As a V4L2 capture node it has one state all sessions share: the picture controls
/// (across every endpoint serving it, as on real hardware) and, per endpoint, one <see cref="CameraStream"/> (format,
/// frame interval, buffer queue) owned by the session that allocated the buffers. Each open session gets a
/// <see cref="CameraSession"/>, which also keeps its event subscriptions; control changes are announced to every
/// session that subscribed to them.
/// </summary>
public sealed class VirtualCamera
{
    private readonly object _gate = new();
    private readonly List<CameraSession> _sessions = new();
    private readonly Dictionary<DeviceEndpoint, CameraStream> _streams = new();

    /// <summary>A camera with <paramref name="options"/> (defaults when null).</summary>
    public VirtualCamera(CameraOptions? options = null)
    {
        Options = options ?? new CameraOptions();
        PixelFormats = OfferedFormats(Options);
        ControlSet = new ControlSet(CameraControls.Definitions) { Changed = Announce };
    }

    /// <summary>How the camera behaves.</summary>
    public CameraOptions Options { get; }

    /// <summary>The pixel formats the node offers, in ENUM_FMT order.</summary>
    public IReadOnlyList<uint> PixelFormats { get; }

    /// <summary>What the node can do: capture through <see cref="CameraOptions.Api"/> (only that one), streaming I/O.</summary>
    public uint DeviceCaps => (uint)((Options.Api == CameraApi.MultiPlanar ? Constants.V4L2_CAP_VIDEO_CAPTURE_MPLANE : Constants.V4L2_CAP_VIDEO_CAPTURE)
        | Constants.V4L2_CAP_STREAMING);

    /// <summary>The buffer type of the node.</summary>
    public uint BufferType => CameraFormats.BufferType(Options.Api);

    /// <summary>The configuration space the driver reads (device_caps, device_type 0, card).</summary>
    public virtio_media_config Config => ConfigSpace.Create(DeviceCaps, 0, Options.Card);

    /// <summary>The camera's controls with their V4L2 rules.</summary>
    public ControlSet ControlSet { get; }

    /// <summary>The picture controls in effect now.</summary>
    public PatternControls Controls => CameraControls.Read(ControlSet);

    /// <summary>Creates the endpoint that serves this camera over <paramref name="transport"/>.</summary>
    public DeviceEndpoint CreateEndpoint(IDeviceTransport transport, VirtioObjectRegistry? objects = null) =>
        new(transport, Config, CreateHandler, objects);

    /// <summary>The handler factory for a <see cref="DeviceEndpoint"/>: one <see cref="CameraSession"/> per open session.</summary>
    public V4l2DeviceHandler<DeviceIoctlContext> CreateHandler(DeviceSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        lock (_gate)
        {
            if (!_streams.TryGetValue(session.Endpoint, out var stream))
            {
                stream = new CameraStream(this, session.Endpoint);
                _streams[session.Endpoint] = stream;
            }
            var handler = new CameraSession(this, stream, session);
            _sessions.Add(handler);
            return handler;
        }
    }

    /// <summary>
    /// Stops every stream, waits out a frame being rendered and forgets the endpoints' streams: call it before the
    /// transport's memory goes away (an endpoint being torn down does not close its sessions), so no frame is written
    /// into unmapped memory and a new endpoint starts with a free queue.
    /// </summary>
    public void StopStreams()
    {
        CameraStream[] streams;
        lock (_gate)
        {
            streams = [.. _streams.Values];
            _streams.Clear();
        }
        foreach (var stream in streams)
        {
            stream.Reset();
        }
    }

    private static uint[] OfferedFormats(CameraOptions options)
    {
        var all = CameraFormats.PixelFormatsFor(options.Api);
        if (options.PixelFormats is null)
        {
            return [.. all];
        }
        if (options.PixelFormats.Count == 0)
        {
            throw new ArgumentException("the camera needs at least one pixel format", nameof(options));
        }
        foreach (var format in options.PixelFormats)
        {
            if (!CameraFormats.IsSupported(format, options.Api))
            {
                throw new ArgumentException($"pixel format 0x{format:X8} is not offered through the {options.Api} API", nameof(options));
            }
        }
        return [.. options.PixelFormats];
    }

    internal void Forget(CameraSession session)
    {
        lock (_gate)
        {
            _sessions.Remove(session);
        }
    }

    // A control changed through any session: every session that subscribed hears of it.
    private void Announce(ControlDefinition control, int value, object? origin)
    {
        CameraSession[] listeners;
        lock (_gate)
        {
            listeners = [.. _sessions];
        }
        foreach (var listener in listeners)
        {
            listener.AnnounceControl(control, value, origin as CameraSession);
        }
    }
}
