using System;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>How a <see cref="VhostUserFrontend"/> sets the device up.</summary>
public sealed class VhostUserFrontendOptions
{
    /// <summary>The size of the driver's memory (a memfd shared with the back-end): rings and buffers.</summary>
    public ulong MemorySize { get; init; } = 64 << 20;

    /// <summary>The guest-physical address of the first byte of that memory.</summary>
    public ulong GuestAddress { get; init; } = 0x10_0000;

    /// <summary>The command queue size (a power of 2).</summary>
    public ushort CommandQueueSize { get; init; } = 256;

    /// <summary>The event queue size (a power of 2).</summary>
    public ushort EventQueueSize { get; init; } = 64;

    /// <summary>Negotiate VIRTIO_F_RING_EVENT_IDX when offered (the default): fewer kicks and interrupts.
    /// The driver endpoint follows <see cref="VhostUserFrontend.EventIndex"/>.</summary>
    public bool NegotiateEventIndex { get; init; } = true;

    /// <summary>How long each reply, and the back-end's mapping of shared memory region 0, may take.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
}
