using System;
using System.Threading;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// A handler that counts its disposals in a shared <see cref="HandlerProbe"/> and answers G_FMT with a format naming its
/// session; the probe's gate, when closed, holds every G_FMT until it opens (a slow handler).
/// </summary>
internal sealed class ProbeHandler : V4l2DeviceHandler<DeviceIoctlContext>, IDisposable
{
    private readonly HandlerProbe _probe;
    private readonly uint _session;
    private int _disposed;

    public ProbeHandler(HandlerProbe probe, DeviceSession session)
    {
        _probe = probe;
        _session = session.Id;
        Interlocked.Increment(ref probe.Created);
    }

    public static virtio_media_config Config => VirtioMedia.Runtime.Wire.ConfigSpace.Create(
        (uint)(Constants.V4L2_CAP_VIDEO_CAPTURE | Constants.V4L2_CAP_STREAMING), 0, "virtio-media probe");

    public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload)
    {
        Interlocked.Increment(ref _probe.Started);
        if (!_probe.Gate.Wait(TimeSpan.FromSeconds(30)))
        {
            return Constants.ETIMEDOUT;
        }
        payload.fmt.pix.width = _session;
        payload.fmt.pix.height = 1;
        return 0;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Interlocked.Increment(ref _probe.Disposed);
        }
        else
        {
            Interlocked.Increment(ref _probe.DisposedTwice);
        }
    }
}
