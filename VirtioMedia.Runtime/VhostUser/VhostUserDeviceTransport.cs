using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>The device side of a started vhost-user connection: the front-end's memory as mapped here,
/// the two queues, eventfd doorbells and shared memory region 0 backed by the back-end's memfd.</summary>
internal sealed class VhostUserDeviceTransport(
    GuestMemory memory,
    DeviceQueue commandQueue,
    DeviceQueue eventQueue,
    INotificationSource commandKicks,
    INotificationSource eventKicks,
    INotifier commandInterrupt,
    INotifier eventInterrupt,
    SharedMemoryRegion sharedMemory) : IDeviceTransport
{
    public GuestMemory Memory => memory;

    public DeviceQueue CommandQueue => commandQueue;

    public DeviceQueue EventQueue => eventQueue;

    public INotificationSource CommandKicksFromDriver => commandKicks;

    public INotificationSource EventKicksFromDriver => eventKicks;

    public INotifier CommandInterruptToDriver => commandInterrupt;

    public INotifier EventInterruptToDriver => eventInterrupt;

    public SharedMemoryRegion SharedMemory => sharedMemory;
}
