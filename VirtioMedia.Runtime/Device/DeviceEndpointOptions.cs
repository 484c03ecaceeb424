using System;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// The bounds of a <see cref="DeviceEndpoint"/>: everything a driver can make the device hold has a cap, so a
/// hostile or buggy driver costs the host a bounded amount of memory.
/// </summary>
public sealed record DeviceEndpointOptions
{
    /// <summary>The default <see cref="MaxSessions"/>.</summary>
    public const int DefaultMaxSessions = 256;

    /// <summary>The default <see cref="MaxHeldEvents"/>.</summary>
    public const int DefaultMaxHeldEvents = 4096;

    /// <summary>The default <see cref="MaxHeldV4l2EventsPerSession"/>.</summary>
    public const int DefaultMaxHeldV4l2EventsPerSession = 64;

    /// <summary>
    /// Sessions that may hold an id at once (open, or errored and not yet closed); default 256. An OPEN past the cap
    /// is answered ENOMEM, the errno Linux's virtio-media driver itself returns from open() when it cannot allocate
    /// a session (EMFILE would tell the application its own descriptor limit, RLIMIT_NOFILE, was reached).
    /// </summary>
    public int MaxSessions { get; init; } = DefaultMaxSessions;

    /// <summary>
    /// Events (DQBUF, EVENT, ERROR) the device holds while the driver supplies no event buffer, over all sessions;
    /// default 4096. An event past the cap is dropped and counted in <see cref="DeviceEndpoint.DroppedEvents"/>.
    /// </summary>
    public int MaxHeldEvents { get; init; } = DefaultMaxHeldEvents;

    /// <summary>
    /// V4L2 events (EVENT) one session holds, each of a distinct type and id; default 64. As in V4L2, where a
    /// subscription keeps <c>elems</c> events and v4l2_event_subscribe makes 0 into 1 (v4l2-event.c), a newer
    /// event of the same type and id replaces the one held, a control or source change OR-ing the older event's
    /// <c>changes</c> into it; an event of a further type or id past the cap is dropped and counted.
    /// </summary>
    public int MaxHeldV4l2EventsPerSession { get; init; } = DefaultMaxHeldV4l2EventsPerSession;

    internal void Validate()
    {
        if (MaxSessions < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxSessions), MaxSessions, "at least one session");
        }
        if (MaxHeldEvents < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxHeldEvents), MaxHeldEvents, "at least one event");
        }
        if (MaxHeldV4l2EventsPerSession < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxHeldV4l2EventsPerSession), MaxHeldV4l2EventsPerSession, "at least one event");
        }
    }
}
