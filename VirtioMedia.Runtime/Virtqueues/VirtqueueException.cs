using System;

namespace VirtioMedia.Runtime.Virtqueues;

/// <summary>The other side broke the ring protocol (a loop, an index out of range, a buffer outside
/// guest memory...). The queue stays usable; the offending chain is reported, never followed.</summary>
public sealed class VirtqueueException : Exception
{
    /// <summary>Describes the violation.</summary>
    public VirtqueueException(string message) : base(message)
    {
    }
}
