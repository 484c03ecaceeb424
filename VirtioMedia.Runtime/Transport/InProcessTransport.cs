using System;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Runtime.Transport;

/// <summary>
/// Connects a driver endpoint and a device endpoint inside one process through real split virtqueues in one
/// <see cref="GuestMemory"/>, with <see cref="SemaphoreDoorbell"/>s for kicks and interrupts. It is the device's
/// <see cref="IDeviceTransport"/>; <see cref="Driver"/> is the driver's view of the same queues.
/// </summary>
public sealed class InProcessTransport : IDeviceTransport, IDisposable
{
    /// <summary>Where guest memory starts: not 0, so a null address is never a valid buffer.</summary>
    public const ulong GuestBase = 0x10_0000;

    private readonly SemaphoreDoorbell _commandKick = new();
    private readonly SemaphoreDoorbell _eventKick = new();
    private readonly SemaphoreDoorbell _commandInterrupt = new();
    private readonly SemaphoreDoorbell _eventInterrupt = new();
    private readonly DriverSide _driver;
    private DeviceQueue? _commandQueue;
    private DeviceQueue? _eventQueue;

    /// <summary>Allocates guest memory and shared memory region 0, and lays the two queues out at the start of guest memory.</summary>
    /// <param name="guestMemorySize">Bytes of guest memory (rings plus the driver's buffers).</param>
    /// <param name="sharedMemorySize">Bytes of shared memory region 0 (MMAP buffers); 0 for a transport
    /// without the region (<see cref="SharedMemoryRegion.None"/>).</param>
    /// <param name="commandQueueSize">Entries of the command queue (a power of 2).</param>
    /// <param name="eventQueueSize">Entries of the event queue (a power of 2).</param>
    /// <param name="eventIndex">Whether the queues use VIRTIO_F_EVENT_IDX notification suppression.</param>
    public InProcessTransport(ulong guestMemorySize = 16 << 20, ulong sharedMemorySize = 16 << 20, ushort commandQueueSize = 256, ushort eventQueueSize = 64, bool eventIndex = true)
    {
        EventIndex = eventIndex;
        var commandLayout = SplitQueueLayout.Contiguous(commandQueueSize, GuestBase);
        var eventStart = Align(commandLayout.UsedRing + SplitQueueLayout.UsedRingSize(commandQueueSize), 4096);
        var eventLayout = SplitQueueLayout.Contiguous(eventQueueSize, eventStart);
        var buffersStart = Align(eventLayout.UsedRing + SplitQueueLayout.UsedRingSize(eventQueueSize), 4096);
        if (buffersStart - GuestBase >= guestMemorySize)
        {
            throw new ArgumentOutOfRangeException(nameof(guestMemorySize), "guest memory too small for the rings");
        }
        Memory = GuestMemory.Allocate(GuestBase, guestMemorySize);
        SharedMemory = SharedMemoryRegion.Allocate(0, sharedMemorySize);
        _driver = new DriverSide(this, commandLayout, eventLayout, (buffersStart, GuestBase + guestMemorySize - buffersStart));
    }

    /// <summary>Whether the queues use VIRTIO_F_EVENT_IDX.</summary>
    public bool EventIndex { get; }

    /// <summary>The driver's view: give it to a driver endpoint.</summary>
    public IDriverTransport Driver => _driver;

    /// <summary>The configuration layout the driver reads; set it to the device endpoint's configuration.</summary>
    public virtio_media_config Config { get; set; }

    /// <inheritdoc/>
    public GuestMemory Memory { get; }

    /// <inheritdoc/>
    public SharedMemoryRegion SharedMemory { get; }

    /// <inheritdoc/>
    /// <remarks>Created on first use, after the driver has initialised the rings (as a device only starts once the driver set the queues up).</remarks>
    public DeviceQueue CommandQueue => _commandQueue ??= new DeviceQueue(Memory, _driver.CommandQueueLayout, EventIndex);

    /// <inheritdoc/>
    public DeviceQueue EventQueue => _eventQueue ??= new DeviceQueue(Memory, _driver.EventQueueLayout, EventIndex);

    /// <inheritdoc/>
    public INotificationSource CommandKicksFromDriver => _commandKick;

    /// <inheritdoc/>
    public INotificationSource EventKicksFromDriver => _eventKick;

    /// <inheritdoc/>
    public INotifier CommandInterruptToDriver => _commandInterrupt;

    /// <inheritdoc/>
    public INotifier EventInterruptToDriver => _eventInterrupt;

    /// <summary>Frees guest memory and the shared memory region; stop both endpoints first.</summary>
    public void Dispose()
    {
        Memory.Dispose();
        SharedMemory.Dispose();
    }

    private static ulong Align(ulong value, ulong alignment) => (value + alignment - 1) & ~(alignment - 1);

    private sealed class DriverSide(InProcessTransport owner, SplitQueueLayout command, SplitQueueLayout @event, (ulong, ulong) bufferArea) : IDriverTransport
    {
        public GuestMemory Memory => owner.Memory;

        public bool EventIndex => owner.EventIndex;

        public SplitQueueLayout CommandQueueLayout => command;

        public SplitQueueLayout EventQueueLayout => @event;

        public (ulong Start, ulong Length) BufferArea => bufferArea;

        public INotifier CommandKickToDevice => owner._commandKick;

        public INotifier EventKickToDevice => owner._eventKick;

        public INotificationSource CommandInterruptsFromDevice => owner._commandInterrupt;

        public INotificationSource EventInterruptsFromDevice => owner._eventInterrupt;

        public SharedMemoryRegion SharedMemory => owner.SharedMemory;

        public virtio_media_config ReadConfig() => owner.Config;
    }
}
