using System;
using System.Text;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Proxy;

/// <summary>
/// A virtio-media device that serves a V4L2 node of the host (<c>/dev/videoN</c>): every virtio-media session opens
/// the node once (<see cref="ProxySession"/>), so formats, buffers and streams are per open file exactly as for a
/// local application, and the guest can do no more to the node than an unprivileged local V4L2 application.
/// </summary>
public sealed class V4l2Proxy
{
    /// <summary>Reads the node's QUERYCAP once, for the configuration space.</summary>
    /// <param name="nodePath">The host node.</param>
    /// <param name="zeroCopy">Whether MMAP buffers are shared with the host driver without copying where they can be
    /// (the host buffer's dma-buf mapped over its twin in region 0); false copies every frame, as where export is refused.</param>
    /// <exception cref="System.IO.IOException">The node cannot be opened or is not a V4L2 node.</exception>
    public V4l2Proxy(string nodePath, bool zeroCopy = true)
    {
        ZeroCopy = zeroCopy;
        NodePath = nodePath ?? throw new ArgumentNullException(nameof(nodePath));
        using var node = HostNode.Open(nodePath);
        var capability = default(v4l2_capability);
        var errno = node.Ioctl(Ioctls.VIDIOC_QUERYCAP.Descriptor.Request, ref capability);
        if (errno != 0)
        {
            throw new System.IO.IOException($"{nodePath} answers VIDIOC_QUERYCAP with errno {errno}: not a V4L2 node");
        }
        // videodev2.h: device_caps is valid when V4L2_CAP_DEVICE_CAPS is set; it describes this node alone.
        DeviceCaps = ServedCaps((capability.capabilities & Constants.V4L2_CAP_DEVICE_CAPS) != 0 ? capability.device_caps : capability.capabilities);
        ReadOnlySpan<byte> card = capability.card;
        var end = card.IndexOf((byte)0);
        Card = Encoding.UTF8.GetString(end < 0 ? card : card[..end]);
    }

    /// <summary>
    /// What of a node's capabilities virtio-media carries: no read()/write() (the protocol has no such command, and the
    /// Linux driver's file operations have none), no overlays (VIDIOC_G/S_FBUF and OVERLAY name host framebuffer
    /// memory), no asynchronous I/O. (Memory types are buffer capabilities, per queue: see REQBUFS.)
    /// </summary>
    public static uint ServedCaps(uint caps) =>
        caps & ~(uint)(Constants.V4L2_CAP_READWRITE | Constants.V4L2_CAP_ASYNCIO | Constants.V4L2_CAP_VIDEO_OVERLAY | Constants.V4L2_CAP_VIDEO_OUTPUT_OVERLAY);

    /// <summary>Whether buffer type <paramref name="type"/> is one of the overlays the proxy does not carry.</summary>
    public static bool IsOverlay(uint type) => type is Constants.V4L2_BUF_TYPE_VIDEO_OVERLAY or Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT_OVERLAY;

    /// <summary>Whether MMAP buffers go without copies where the host exports them and region 0 allows it.</summary>
    public bool ZeroCopy { get; }

    /// <summary>The host node served.</summary>
    public string NodePath { get; }

    /// <summary>The node's device capabilities (what the configuration space announces).</summary>
    public uint DeviceCaps { get; }

    /// <summary>The node's card name.</summary>
    public string Card { get; }

    /// <summary>Copies made per frame, by memory path, over every session of this proxy.</summary>
    public ProxyStatistics Statistics { get; } = new();

    /// <summary>The configuration space: the node's device_caps, device type 0 (a V4L2 video node), its card.</summary>
    public virtio_media_config Config => ConfigSpace.Create(DeviceCaps, 0, Card);

    /// <summary>Creates the endpoint that serves the node over <paramref name="transport"/>.</summary>
    public DeviceEndpoint CreateEndpoint(IDeviceTransport transport, VirtioObjectRegistry? objects = null, DeviceEndpointOptions? options = null) =>
        new(transport, Config, CreateHandler, objects, options);

    /// <summary>The handler factory for a <see cref="DeviceEndpoint"/>: opens the node for the new session.</summary>
    public V4l2DeviceHandler<DeviceIoctlContext> CreateHandler(DeviceSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        return new ProxySession(this, session, HostNode.Open(NodePath));
    }
}
