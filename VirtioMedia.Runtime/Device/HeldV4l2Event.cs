using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Device;

/// <summary>A V4L2 event a session holds until it is delivered: one per type and id, as a V4L2 subscription keeps.</summary>
internal struct HeldV4l2Event
{
    public bool InUse;
    public v4l2_event Event;
}
