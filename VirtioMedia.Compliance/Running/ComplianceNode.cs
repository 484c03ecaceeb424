using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;
using static VirtioMedia.Abi.Constants;

namespace VirtioMedia.Compliance.Running;

/// <summary>What the configuration space says the node is, as v4l2-compliance derives it from QUERYCAP.</summary>
internal sealed class ComplianceNode
{
    public ComplianceNode(in virtio_media_config config)
    {
        Card = ConfigSpace.Card(config);
        DeviceCaps = config.device_caps;
        DeviceType = config.device_type;
    }

    public string Card { get; }

    public uint DeviceCaps { get; }

    public uint DeviceType { get; }

    public bool IsMultiPlanar => (DeviceCaps & (V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_VIDEO_OUTPUT_MPLANE)) != 0;

    public bool CanCapture => (DeviceCaps & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE)) != 0;

    public bool CanOutput => (DeviceCaps & (V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_VIDEO_OUTPUT_MPLANE)) != 0;

    public bool IsM2M => (DeviceCaps & (V4L2_CAP_VIDEO_M2M | V4L2_CAP_VIDEO_M2M_MPLANE)) != 0;

    public bool HasStreaming => (DeviceCaps & V4L2_CAP_STREAMING) != 0;

    /// <summary>The video buffer type the node's tests use (capture before output, as for an m2m node's capture queue).</summary>
    public uint BufferType => IsM2M
        ? (IsMultiPlanar ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE)
        : CanCapture
            ? (IsMultiPlanar ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE)
            : (IsMultiPlanar ? V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE : V4L2_BUF_TYPE_VIDEO_OUTPUT);

    public bool IsOutputType => BufferType is V4L2_BUF_TYPE_VIDEO_OUTPUT or V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;

    /// <summary>Every video buffer type, for the checks that the ones the node lacks are refused.</summary>
    public static readonly uint[] VideoBufferTypes =
    [
        V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_BUF_TYPE_VIDEO_OUTPUT, V4L2_BUF_TYPE_VIDEO_OVERLAY,
        V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
    ];

    /// <summary>Whether the node offers buffer type <paramref name="type"/>.</summary>
    public bool Offers(uint type) => type == BufferType
        || (IsM2M && type == (IsMultiPlanar ? V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE : V4L2_BUF_TYPE_VIDEO_OUTPUT));
}
