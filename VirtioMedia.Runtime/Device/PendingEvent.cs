using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Device;

/// <summary>An event waiting for an eventq buffer: what to encode once the driver supplies one.</summary>
internal struct PendingEvent
{
    public int Kind;
    public uint SessionId;
    /// <summary>The emitting session: an event of a closed session must not reach a new session that got the same id.</summary>
    public DeviceSession Session;
    public v4l2_buffer Buffer;
    public FixedArray8<v4l2_plane> Planes;
    public int PlaneCount;
    /// <summary>For an EVENT, where the session holds its payload (so a newer event of the same type and id can replace it).</summary>
    public int HeldSlot;
    public int Errno;
}
