namespace VirtioMedia.Runtime.Protocol;

/// <summary>Facts of the virtio-media device type that every endpoint needs.</summary>
public static class VirtioMediaDevice
{
    /// <summary>The virtio device ID of a media device.</summary>
    public const int DeviceId = Abi.Constants.VIRTIO_ID_MEDIA;
}
