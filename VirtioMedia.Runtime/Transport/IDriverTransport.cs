using VirtioMedia.Abi;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Runtime.Transport;

/// <summary>
/// What a driver endpoint works through: its own memory (where it lays out the rings and its buffers), the
/// queue layouts, the doorbells both ways, the device's configuration layout and shared memory region 0 as
/// the driver maps it.
/// </summary>
public interface IDriverTransport
{
    /// <summary>The driver's memory.</summary>
    GuestMemory Memory { get; }

    /// <summary>Whether VIRTIO_F_EVENT_IDX was negotiated: both ends of every queue must agree, or
    /// notifications get lost.</summary>
    bool EventIndex { get; }

    /// <summary>Where queue 0 (commandq) lives.</summary>
    SplitQueueLayout CommandQueueLayout { get; }

    /// <summary>Where queue 1 (eventq) lives.</summary>
    SplitQueueLayout EventQueueLayout { get; }

    /// <summary>The part of <see cref="Memory"/> the driver may use for its buffers: [start, +length).</summary>
    (ulong Start, ulong Length) BufferArea { get; }

    /// <summary>Driver to device: kicks the command queue.</summary>
    INotifier CommandKickToDevice { get; }

    /// <summary>Driver to device: kicks the event queue.</summary>
    INotifier EventKickToDevice { get; }

    /// <summary>Device to driver: used-buffer interrupts of the command queue.</summary>
    INotificationSource CommandInterruptsFromDevice { get; }

    /// <summary>Device to driver: used-buffer interrupts of the event queue.</summary>
    INotificationSource EventInterruptsFromDevice { get; }

    /// <summary>Shared memory region 0 as mapped by the driver.</summary>
    SharedMemoryRegion SharedMemory { get; }

    /// <summary>Reads the device configuration layout.</summary>
    virtio_media_config ReadConfig();
}
