using System.Collections.Generic;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Samples.Camera;

/// <summary>How a <see cref="VirtualCamera"/> behaves.</summary>
public sealed class CameraOptions
{
    /// <summary>The card name in the configuration space.</summary>
    public string Card { get; init; } = "virtio-media virtual camera";

    /// <summary>The capture API the node exposes (single-planar by default).</summary>
    public CameraApi Api { get; init; } = CameraApi.SinglePlanar;

    /// <summary>
    /// The pixel formats the node offers, in ENUM_FMT order (the first is the initial format): a subset of those of
    /// <see cref="Api"/> (<see cref="CameraFormats.PixelFormatsFor"/>), or null for all of them.
    /// </summary>
    public IReadOnlyList<uint>? PixelFormats { get; init; }

    /// <summary>
    /// The buffer memory types REQBUFS and CREATE_BUFS accept (all by default). MMAP is left out in any case when the
    /// transport has no shared memory region 0, since the driver could not map such buffers. A driver without
    /// VIRTIO_OBJECT support (Linux's, for one) needs a camera without <see cref="MemoryTypes.VirtioObject"/>.
    /// </summary>
    public MemoryTypes Memory { get; init; } = MemoryTypes.All;

    /// <summary>
    /// Produce a frame as soon as a buffer is queued instead of at the frame interval (for benchmarks and tests).
    /// </summary>
    public bool Fast { get; init; }

    /// <summary>
    /// Copy one precomputed frame (frame 0 of the pattern with default controls) into every buffer instead of
    /// rendering the moving pattern: a device whose only per-frame work is filling the buffer, for measuring the
    /// transport against plain memory bandwidth. Frames then do not match <see cref="TestPattern"/> for their
    /// sequence number.
    /// </summary>
    public bool FillOnly { get; init; }

    /// <summary>
    /// When positive, a stream ends after this many frames: the last buffer carries V4L2_BUF_FLAG_LAST and a
    /// V4L2_EVENT_EOS follows for sessions that subscribed to it.
    /// </summary>
    public long FrameLimit { get; init; }
}
