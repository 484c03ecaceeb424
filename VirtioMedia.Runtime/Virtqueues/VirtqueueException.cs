using System;

namespace VirtioMedia.Runtime.Virtqueues;

/// <summary>The other side broke the ring protocol (a loop, an index out of range, a buffer outside
/// guest memory...). The offending chain is reported, never followed; a <see cref="DeviceQueue"/> holds it as
/// <see cref="DeviceQueue.Error"/> and serves nothing more until it is reset.</summary>
public sealed class VirtqueueException : Exception
{
    /// <summary>Describes the violation.</summary>
    public VirtqueueException(string message) : base(message)
    {
    }
}
