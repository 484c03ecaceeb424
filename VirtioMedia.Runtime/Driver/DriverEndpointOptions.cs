using System;

namespace VirtioMedia.Runtime.Driver;

/// <summary>Settings of a <see cref="DriverEndpoint"/>.</summary>
public sealed class DriverEndpointOptions
{
    /// <summary>How long a command may stay unanswered before it fails with <see cref="TimeoutException"/>.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How many event buffers the driver keeps in the event queue (at most the queue size).</summary>
    public int EventBuffers { get; init; } = 32;
}
