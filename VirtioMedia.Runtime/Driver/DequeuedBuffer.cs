using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Driver;

/// <summary>
/// A buffer the device returned with a DQBUF event. Pointer values (<c>m.planes</c>, <c>m.userptr</c> of the
/// buffer and its planes) are meaningless in events and are cleared to 0 before delivery.
/// </summary>
/// <param name="Buffer">The buffer as the device described it.</param>
/// <param name="Planes">The planes of a multi-planar buffer (the first <c>Buffer.length</c> are meaningful).</param>
public readonly record struct DequeuedBuffer(v4l2_buffer Buffer, FixedArray8<v4l2_plane> Planes);
