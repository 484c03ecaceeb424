using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Runtime.Transport;

/// <summary>
/// What a device endpoint is served through once the driver has set the device up: guest memory, the
/// two virtio-media queues (0 commandq, 1 eventq), their doorbells both ways, and shared memory region 0.
/// The in-process transport and the vhost-user backend both provide one.
/// </summary>
public interface IDeviceTransport
{
    /// <summary>The driver's memory, where the rings and the buffers live.</summary>
    GuestMemory Memory { get; }

    /// <summary>Queue 0: commands from the driver.</summary>
    DeviceQueue CommandQueue { get; }

    /// <summary>Queue 1: buffers the driver supplies for events.</summary>
    DeviceQueue EventQueue { get; }

    /// <summary>Driver to device: the driver's kicks of the command queue (new commands available).</summary>
    INotificationSource CommandKicksFromDriver { get; }

    /// <summary>Driver to device: the driver's kicks of the event queue (new event buffers available).</summary>
    INotificationSource EventKicksFromDriver { get; }

    /// <summary>Device to driver: the interrupt for used command chains.</summary>
    INotifier CommandInterruptToDriver { get; }

    /// <summary>Device to driver: the interrupt for used event buffers.</summary>
    INotifier EventInterruptToDriver { get; }

    /// <summary>Shared memory region 0, where MMAP buffers live.</summary>
    SharedMemoryRegion SharedMemory { get; }
}
