namespace VirtioMedia.Samples.Camera;

/// <summary>How a <see cref="VirtualCamera"/> behaves.</summary>
public sealed class CameraOptions
{
    /// <summary>The card name in the configuration space.</summary>
    public string Card { get; init; } = "virtio-media virtual camera";

    /// <summary>
    /// Produce a frame as soon as a buffer is queued instead of at the frame interval (for benchmarks and tests).
    /// </summary>
    public bool Fast { get; init; }

    /// <summary>
    /// When positive, a stream ends after this many frames: the last buffer carries V4L2_BUF_FLAG_LAST and a
    /// V4L2_EVENT_EOS follows for sessions that subscribed to it.
    /// </summary>
    public long FrameLimit { get; init; }
}
