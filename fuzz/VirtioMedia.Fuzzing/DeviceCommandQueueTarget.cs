using System;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Fuzzing;

/// <summary>
/// The device side of the command queue, through the real <see cref="DeviceEndpoint"/>: the input is the driver's
/// whole view of the queue (the descriptor table, the available ring and index, the bytes of guest memory the
/// descriptors may point at), and the endpoint must answer every chain it pops exactly once, or break the queue,
/// without throwing or hanging.
/// </summary>
/// <remarks>
/// Input layout: u8 features (bit 0 VIRTIO_F_EVENT_IDX, bit 1 VIRTIO_F_INDIRECT_DESC), le16 avail.idx,
/// <see cref="QueueSize"/> descriptors of 16 bytes, <see cref="QueueSize"/> le16 available entries, then up to
/// 60 KiB of guest memory at <see cref="BufferBase"/>. Descriptor addresses are guest-physical, as on the wire.
/// </remarks>
public static class DeviceCommandQueueTarget
{
    public const ushort QueueSize = 16;
    public const ulong GuestBase = 0x10000;
    public const ulong BufferBase = GuestBase + 0x1000;
    public const int BufferLength = 60 << 10;

    public static readonly SplitQueueLayout CommandLayout = SplitQueueLayout.Contiguous(QueueSize, GuestBase);
    public static readonly SplitQueueLayout EventLayout = SplitQueueLayout.Contiguous(QueueSize, GuestBase + 0x800);

    private static readonly virtio_media_config Config = ConfigSpace.Create((uint)(Constants.V4L2_CAP_VIDEO_CAPTURE | Constants.V4L2_CAP_STREAMING), 0, "fuzz");

    /// <summary>What the last input did (printed when replaying inputs).</summary>
    public static string LastOutcome { get; private set; } = "";

    public static void Run(byte[] data)
    {
        var input = new InputReader(data);
        var features = input.U8();
        var availableIndex = input.U16();
        using var memory = GuestMemory.Allocate(GuestBase, 0x1000 + BufferLength);
        using var shared = SharedMemoryRegion.Allocate(0, 64 << 10);
        input.Fill(memory.GetSpan(CommandLayout.DescriptorTable, SplitQueueLayout.DescriptorTableSize(QueueSize)));
        for (var i = 0; i < QueueSize; i++)
        {
            memory.Write(CommandLayout.AvailableEntry(i), input.U16());
        }
        memory.Write(CommandLayout.AvailableIndex, availableIndex);
        input.Fill(memory.GetSpan(BufferBase, BufferLength));

        var transport = new FuzzDeviceTransport(memory, shared, CommandLayout, EventLayout, (features & 1) != 0, (features & 2) != 0);
        var queue = transport.CommandQueue;
        var endpoint = new DeviceEndpoint(transport, Config, _ => new FuzzDevice());
        endpoint.Start();
        transport.Kick();

        // Every chain the driver made available is popped, or the queue breaks; every popped chain is answered. The
        // device's own used index is the oracle: used.idx and the used entries are guest memory, which a driver may
        // legitimately hand the device as a writable buffer (then the device's reply lands on its ring).
        var offered = availableIndex; // the device starts from 0
        Bounded.Until(() => queue.NeedsReset || queue.NextAvailable == availableIndex, "popping the available chains");
        Bounded.Until(() => queue.NextUsed == queue.NextAvailable, "answering every popped chain");
        Bounded.Wait(endpoint.StopAsync(Bounded.Limit), "StopAsync");
        var used = queue.NextUsed;
        if (offered > QueueSize && !queue.NeedsReset)
        {
            throw new InvalidOperationException($"avail.idx {availableIndex} is past the queue size, yet the queue is not broken");
        }
        LastOutcome = $"{used} chains answered, {endpoint.SessionCount} sessions open{(queue.NeedsReset ? ", queue broken: " + queue.Error!.Message : "")}";
    }
}
