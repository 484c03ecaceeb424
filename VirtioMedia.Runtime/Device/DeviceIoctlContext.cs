using System;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// What a device's <see cref="V4l2DeviceHandler{TContext}"/> sees next to each ioctl payload: the session, the
/// trailers of the request (planes, controls, SG lists of SHARED_PAGES buffers, UUIDs of virtio objects), the MMAP
/// allocator and the virtio object registry. One per session; the trailers are those of the ioctl being served.
/// </summary>
public sealed class DeviceIoctlContext
{
    internal DeviceIoctlContext(DeviceSession session, IoctlMessage message)
    {
        Session = session;
        Message = message;
    }

    /// <summary>The session the ioctl runs on; emits DQBUF, EVENT and ERROR events.</summary>
    public DeviceSession Session { get; }

    /// <summary>The endpoint serving the session.</summary>
    public DeviceEndpoint Endpoint => Session.Endpoint;

    /// <summary>The request being served, with all its trailers (valid during the handler call only).</summary>
    public IoctlMessage Message { get; }

    /// <summary>Guest memory, where SHARED_PAGES buffers live.</summary>
    public GuestMemory GuestMemory => Session.Endpoint.Transport.Memory;

    /// <summary>Allocates MMAP buffers in shared memory region 0.</summary>
    public MmapAllocator Mmap => Session.Endpoint.Mmap;

    /// <summary>The virtio objects this device can export to and import from.</summary>
    public VirtioObjectRegistry Objects => Session.Endpoint.Objects;

    /// <summary>
    /// Whether the payload is written back when the handler fails (the specification lets a device do either; for
    /// the EXT_CTRLS ioctls the endpoint always does, since error_idx and the controls carry information).
    /// Reset to false before each ioctl.
    /// </summary>
    public bool WritePayloadOnError { get; set; }

    /// <summary>The planes after a multi-planar <c>v4l2_buffer</c>, empty otherwise.</summary>
    public Span<v4l2_plane> Planes => Message.Rule == Trailers.v4l2_buffer ? Message.ElementsAs<v4l2_plane>() : Span<v4l2_plane>.Empty;

    /// <summary>The controls after a <c>v4l2_ext_controls</c>, empty otherwise.</summary>
    public Span<v4l2_ext_control> Controls => Message.Rule == Trailers.v4l2_ext_controls ? Message.ElementsAs<v4l2_ext_control>() : Span<v4l2_ext_control>.Empty;

    /// <summary>How many SG lists the request carried (one per plane of a multi-planar SHARED_PAGES buffer, else one).</summary>
    public int SgListCount => Message.SgListCount;

    /// <summary>Loads SG list <paramref name="index"/> into <paramref name="destination"/> (checked against guest memory).</summary>
    public WireResult LoadSharedPages(int index, GuestScatterList destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if ((uint)index >= (uint)Message.SgListCount)
        {
            return WireResult.Fail(Constants.EINVAL, "no such SG list in the request");
        }
        return destination.Load(Message.SgList(index));
    }

    /// <summary>How many UUIDs the request carried.</summary>
    public int UuidCount => Message.UuidCount;

    /// <summary>UUID <paramref name="index"/> of the request.</summary>
    public Guid GetUuid(int index) => new(Message.Uuids.Slice(index * IoctlMessage.UuidSize, IoctlMessage.UuidSize));

    /// <summary>Sets UUID <paramref name="index"/> of the response (EXPBUF answers the exported object's UUID there).</summary>
    public void SetUuid(int index, Guid uuid)
    {
        if (!uuid.TryWriteBytes(Message.Uuids.Slice(index * IoctlMessage.UuidSize, IoctlMessage.UuidSize)))
        {
            throw new ArgumentOutOfRangeException(nameof(index));
        }
    }
}
