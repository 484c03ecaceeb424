namespace VirtioMedia.Runtime.Virtqueues;

/// <summary>What <see cref="DeviceQueue.Pop"/> found.</summary>
public enum PopResult
{
    /// <summary>The driver has made nothing new available.</summary>
    Empty,

    /// <summary>A chain was taken; return it with <see cref="DeviceQueue.Push"/>.</summary>
    Chain,

    /// <summary>
    /// This call found the ring corrupt (<see cref="DeviceQueue.Error"/> says how): the queue is now broken and
    /// serves nothing more until it is reset. Returned once per queue, so a caller can count and log it once.
    /// </summary>
    RingBroken,

    /// <summary>The queue broke earlier and needs a reset; nothing was read from the ring.</summary>
    NeedsReset,
}
