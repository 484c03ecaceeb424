namespace VirtioMedia.Runtime.Device;

/// <summary>Where a <see cref="QueueBuffer"/> is.</summary>
internal enum QueueBufferState
{
    /// <summary>With the driver (never queued, returned by DQBUF, or returned by STREAMOFF).</summary>
    Dequeued,

    /// <summary>Queued by QBUF, waiting for the device.</summary>
    Queued,

    /// <summary>Taken by the device to be filled.</summary>
    Active,
}
