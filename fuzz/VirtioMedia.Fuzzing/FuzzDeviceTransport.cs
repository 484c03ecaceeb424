using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Fuzzing;

/// <summary>A device transport over rings the fuzzer wrote: small guest memory, both features chosen by the input.</summary>
internal sealed class FuzzDeviceTransport(GuestMemory memory, SharedMemoryRegion shared, SplitQueueLayout commands, SplitQueueLayout events, bool eventIndex, bool indirect) : IDeviceTransport
{
    private readonly SemaphoreDoorbell _commandKicks = new();
    private readonly SemaphoreDoorbell _eventKicks = new();
    private readonly SemaphoreDoorbell _interrupts = new();

    public GuestMemory Memory => memory;

    public DeviceQueue CommandQueue { get; } = new(memory, commands, eventIndex, 0, indirect);

    public DeviceQueue EventQueue { get; } = new(memory, events, eventIndex, 0, indirect);

    public INotificationSource CommandKicksFromDriver => _commandKicks;

    public INotificationSource EventKicksFromDriver => _eventKicks;

    public INotifier CommandInterruptToDriver => _interrupts;

    public INotifier EventInterruptToDriver => _interrupts;

    public SharedMemoryRegion SharedMemory => shared;

    public void Kick() => _commandKicks.Notify();
}
