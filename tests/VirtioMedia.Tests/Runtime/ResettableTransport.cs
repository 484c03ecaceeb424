using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// The device side of an <see cref="InProcessTransport"/> with queues of its own: they follow indirect tables when
/// told VIRTIO_F_INDIRECT_DESC was negotiated, take the given limits, and <see cref="Reset"/> replaces them as a
/// device reset does (the driver sets its rings up again before the device looks at them).
/// </summary>
internal sealed class ResettableTransport(InProcessTransport inner, bool indirectDescriptors = false, DeviceQueueLimits? limits = null) : IDeviceTransport
{
    private DeviceQueue? _commandQueue;
    private DeviceQueue? _eventQueue;

    public InProcessTransport Inner => inner;

    public GuestMemory Memory => inner.Memory;

    public DeviceQueue CommandQueue => _commandQueue ??= new DeviceQueue(Memory, inner.Driver.CommandQueueLayout, inner.EventIndex, 0, indirectDescriptors, limits);

    public DeviceQueue EventQueue => _eventQueue ??= new DeviceQueue(Memory, inner.Driver.EventQueueLayout, inner.EventIndex, 0, indirectDescriptors, limits);

    public INotificationSource CommandKicksFromDriver => inner.CommandKicksFromDriver;

    public INotificationSource EventKicksFromDriver => inner.EventKicksFromDriver;

    public INotifier CommandInterruptToDriver => inner.CommandInterruptToDriver;

    public INotifier EventInterruptToDriver => inner.EventInterruptToDriver;

    public SharedMemoryRegion SharedMemory => inner.SharedMemory;

    /// <summary>Forgets both queues; the next device endpoint started over this transport gets new ones.</summary>
    public void Reset()
    {
        _commandQueue = null;
        _eventQueue = null;
    }
}
