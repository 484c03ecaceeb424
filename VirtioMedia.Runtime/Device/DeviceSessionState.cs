namespace VirtioMedia.Runtime.Device;

/// <summary>Where a device session is in its life.</summary>
public enum DeviceSessionState
{
    /// <summary>Opened and serving commands.</summary>
    Open,

    /// <summary>An ERROR event was emitted: commands fail, the id stays reserved until the driver's CLOSE.</summary>
    Errored,

    /// <summary>Closed by the driver; the id may be handed out again.</summary>
    Closed,
}
