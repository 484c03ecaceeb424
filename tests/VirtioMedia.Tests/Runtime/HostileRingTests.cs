using System;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// Rings a peer corrupts, written raw into guest memory: the queue breaks once (counted once, DEVICE_NEEDS_RESET),
/// nothing spins on it, stop completes within its bound, memory a peer makes the device hold is bounded, and a good
/// peer is served after a reset. Not run in parallel with other classes: they measure process CPU time and the heap.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class HostileRingTests
{
    private const int RespHeader = 8;

    [TestMethod]
    public Task An_available_index_past_the_queue_size_breaks_the_queues_once_without_spinning() => Streamer.Guard(async () =>
    {
        using var inner = new InProcessTransport();
        var transport = new ResettableTransport(inner);
        var raw = new RawDriver(inner);
        var device = new DeviceEndpoint(transport, LoopbackDevice.Config, _ => new LoopbackDevice());
        inner.Config = device.Config;
        device.Start();
        var id = await OpenAsync(raw);
        Assert.IsTrue(device.TryGetSession(id, out var session));
        // What the process burns in a second while the device is healthy and idle: the test host's own background
        // work (tiered compilation, the runner) counts in process CPU time too, so the spin check below compares
        // against it. A spinning queue loop burns a whole core, about 1,000 ms a second, on top.
        var idle = await CpuOverOneSecondAsync();

        // The command queue and the event queue: avail.idx size + 5 ahead of what the device has read, then a kick.
        var memory = inner.Memory;
        foreach (var layout in new[] { inner.Driver.CommandQueueLayout, inner.Driver.EventQueueLayout })
        {
            var index = memory.ReadUInt16Acquire(layout.AvailableIndex);
            memory.WriteUInt16Release(layout.AvailableIndex, (ushort)(index + layout.Size + 5));
        }
        inner.Driver.CommandKickToDevice.Notify();
        inner.Driver.EventKickToDevice.Notify();
        await Streamer.SpinUntil(() => device.ProtocolErrors == 1);
        // The event queue is read when there is an event to deliver.
        Assert.IsTrue(session.EmitEvent(new v4l2_event { type = Constants.V4L2_EVENT_SOURCE_CHANGE }));
        await Streamer.SpinUntil(() => device.ProtocolErrors == 2);
        Assert.IsTrue(transport.CommandQueue.NeedsReset);
        Assert.IsTrue(transport.EventQueue.NeedsReset);
        StringAssert.Contains(transport.CommandQueue.Error!.Message, "more than the queue size 256");

        // More kicks, and events posted while the event queue is broken: no more errors, no blocked emitter.
        var emit = Stopwatch.StartNew();
        for (var i = 0; i < 1000; i++)
        {
            inner.Driver.CommandKickToDevice.Notify();
            inner.Driver.EventKickToDevice.Notify();
            Assert.IsTrue(session.EmitEvent(new v4l2_event { type = Constants.V4L2_EVENT_SOURCE_CHANGE }));
        }
        Assert.IsTrue(emit.Elapsed < TimeSpan.FromSeconds(1), $"1000 events posted in {emit.Elapsed}");

        // Back to idle: no more than a tenth of a core above what the healthy, idle device cost.
        await Task.Delay(100);
        var cpu = await CpuOverOneSecondAsync();
        Console.WriteLine($"CPU over 1 s after the kicks: {cpu.TotalMilliseconds:F1} ms (healthy and idle: {idle.TotalMilliseconds:F1} ms); protocol errors: {device.ProtocolErrors}");
        Assert.IsTrue(cpu < idle + TimeSpan.FromMilliseconds(100), $"{cpu.TotalMilliseconds} ms of CPU in 1 s, against {idle.TotalMilliseconds} ms healthy and idle");
        Assert.AreEqual(2L, device.ProtocolErrors, "each queue's break counted once");

        var stop = Stopwatch.StartNew();
        await device.StopAsync().WaitAsync(TimeSpan.FromSeconds(2));
        Console.WriteLine($"StopAsync: {stop.Elapsed.TotalMilliseconds:F1} ms");
        await raw.DisposeAsync();

        // A reset: the driver sets the rings up again and the device gets new queues; a good driver is served.
        transport.Reset();
        await using (var driver = DriverEndpoint.Start(inner.Driver))
        {
            await using var restarted = new DeviceEndpoint(transport, LoopbackDevice.Config, _ => new LoopbackDevice());
            restarted.Start();
            await using var good = await driver.OpenSessionAsync();
            var format = new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
            format.fmt.pix.width = 320;
            format.fmt.pix.height = 240;
            Assert.AreEqual(0, (await good.VIDIOC_S_FMT(format)).Status);
            var got = await good.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE });
            Assert.AreEqual(0, got.Status);
            Assert.AreEqual((320u, 240u, 320u * 240u), (got.Payload.fmt.pix.width, got.Payload.fmt.pix.height, got.Payload.fmt.pix.sizeimage));
            Assert.AreEqual(0L, restarted.ProtocolErrors);
        }
    }, seconds: 20);

    [TestMethod]
    public Task Indirect_descriptors_that_were_not_negotiated_break_the_queue_and_are_not_followed() => Streamer.Guard(async () =>
    {
        foreach (var (negotiated, expected) in new[] { (false, "VIRTIO_F_INDIRECT_DESC was not negotiated"), (true, "within 128 entries") })
        {
            // Negotiated but with the default limits, a 512 KiB table is refused as too large.
            using var inner = new InProcessTransport(guestMemorySize: 4 << 20);
            var transport = new ResettableTransport(inner, indirectDescriptors: negotiated);
            var ring = new RawRing(inner);
            await using var device = new DeviceEndpoint(transport, LoopbackDevice.Config, _ => new LoopbackDevice());
            inner.Config = device.Config;
            device.Start();
            var table = ring.Buffers + 0x10000;
            var request = ring.Buffers;
            WriteOpen(inner.Memory, request);
            inner.Memory.Write(table, new VirtqDescriptor { addr = request, len = 8, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT, next = 1 });
            inner.Memory.Write(table + 16, new VirtqDescriptor { addr = request + 64, len = 16, flags = VirtqDescriptor.VIRTQ_DESC_F_WRITE });
            ring.Make(0, new VirtqDescriptor { addr = table, len = 512 << 10, flags = VirtqDescriptor.VIRTQ_DESC_F_INDIRECT });
            ring.Publish(0);
            await Streamer.SpinUntil(() => device.ProtocolErrors == 1);
            StringAssert.Contains(transport.CommandQueue.Error!.Message, expected);
            await Task.Delay(50);
            Assert.AreEqual((ushort)0, ring.UsedIndex, "the chain was not followed (no OPEN answered)");
            Assert.AreEqual(0, device.SessionCount);
        }
    });

    [TestMethod]
    public Task Chains_sharing_a_512_KiB_indirect_table_behind_a_slow_handler_leave_little_behind() => Streamer.Guard(async () =>
    {
        // Tables as large as the specification allows are accepted here on purpose (the default is 128 entries): the
        // chain bound alone must keep what 250 such chains make the device hold small once they complete.
        const int Chains = 250;
        const long RetainedCap = 8L << 20;
        using var inner = new InProcessTransport(guestMemorySize: 8 << 20);
        var transport = new ResettableTransport(inner, indirectDescriptors: true, limits: new DeviceQueueLimits(MaxIndirectTableEntries: SplitQueueLayout.MaxSize));
        var ring = new RawRing(inner);
        using var release = new ManualResetEventSlim();
        await using var device = new DeviceEndpoint(transport, LoopbackDevice.Config, _ => new SlowFormatDevice(release));
        inner.Config = device.Config;
        device.Start();

        var memory = inner.Memory;
        var request = ring.Buffers;
        var response = ring.Buffers + 0x1000;
        var session = await OpenOverRingAsync(ring, memory, request, response);

        // One G_FMT cut into 112 two-byte readable buffers and one writable buffer, at the start of a 512 KiB table
        // (32768 entries) that all 250 chains name.
        var table = ring.Buffers + 0x10000;
        var length = 16 + Unsafe.SizeOf<v4l2_format>();
        var command = memory.GetSpan(request, (ulong)length);
        command.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(command, (uint)Constants.VIRTIO_MEDIA_CMD_IOCTL);
        BinaryPrimitives.WriteUInt32LittleEndian(command[8..], session);
        BinaryPrimitives.WriteUInt32LittleEndian(command[12..], (uint)Ioctls.VIDIOC_G_FMT.Descriptor.Number);
        BinaryPrimitives.WriteUInt32LittleEndian(command[16..], Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE);
        memory.GetSpan(table, 512 << 10).Clear();
        var pieces = length / 2;
        for (var i = 0; i < pieces; i++)
        {
            memory.Write(table + 16UL * (ulong)i, new VirtqDescriptor { addr = request + 2UL * (ulong)i, len = 2, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT, next = (ushort)(i + 1) });
        }
        var answerLength = (uint)(RespHeader + Unsafe.SizeOf<v4l2_format>());
        memory.Write(table + 16UL * (ulong)pieces, new VirtqDescriptor { addr = response, len = answerLength, flags = VirtqDescriptor.VIRTQ_DESC_F_WRITE });

        Collect();
        var baseline = GC.GetTotalMemory(true);
        for (var i = 0; i < Chains; i++)
        {
            ring.Make(2 + i, new VirtqDescriptor { addr = table, len = 512 << 10, flags = VirtqDescriptor.VIRTQ_DESC_F_INDIRECT });
            ring.Publish((ushort)(2 + i));
        }
        await Streamer.SpinUntil(() => transport.CommandQueue.NextAvailable == Chains + 1);
        Collect();
        var queued = GC.GetTotalMemory(true) - baseline;
        release.Set();
        await Streamer.SpinUntil(() => ring.UsedIndex == Chains + 1);
        Collect();
        var retained = GC.GetTotalMemory(true) - baseline;
        Console.WriteLine($"{Chains} chains of {pieces + 1} buffers from one 512 KiB indirect table: {queued / 1024} KiB held while queued, {retained / 1024} KiB retained after completion");

        Assert.AreEqual(0L, device.ProtocolErrors);
        for (var i = 1; i <= Chains; i++)
        {
            var used = ring.Used(i);
            Assert.AreEqual(answerLength, used.Length, $"used entry {i}");
        }
        Assert.AreEqual(0u, BinaryPrimitives.ReadUInt32LittleEndian(memory.GetSpan(response, 4)), "G_FMT answered");
        Assert.IsTrue(retained < RetainedCap, $"{retained} bytes retained, cap {RetainedCap}");
    }, seconds: 30);

    [TestMethod]
    public Task A_broken_event_queue_faults_the_driver_endpoint_visibly() => Streamer.Guard(async () =>
    {
        using var transport = new InProcessTransport();
        transport.Config = LoopbackDevice.Config;
        await using var driver = DriverEndpoint.Start(transport.Driver);
        var raw = new RawDevice(transport);
        var opening = driver.OpenSessionAsync().AsTask();
        await Streamer.SpinUntil(() => raw.TryAnswerCommand(new virtio_media_resp_open { session_id = 7 }));
        var session = await opening;
        var waiting = session.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE }).AsTask();
        var reading = session.Events.ReadAsync().AsTask();

        // A raw used-ring writer: the event queue returns chain 200, which the driver never made available.
        var layout = transport.Driver.EventQueueLayout;
        var memory = transport.Memory;
        var used = memory.ReadUInt16Acquire(layout.UsedIndex);
        memory.Write(layout.UsedEntry(used % layout.Size), 200u);
        memory.Write(layout.UsedEntry(used % layout.Size) + 4, 16u);
        memory.WriteUInt16Release(layout.UsedIndex, (ushort)(used + 1));
        transport.EventInterruptToDriver.Notify();

        await Streamer.SpinUntil(() => driver.Fault is not null);
        StringAssert.Contains(driver.Fault!.Message, "event queue");
        var closed = await Assert.ThrowsExactlyAsync<ChannelClosedException>(() => reading);
        Assert.IsInstanceOfType<DeviceProtocolException>(closed.InnerException);
        StringAssert.Contains(closed.InnerException.Message, "chain 200");
        await Assert.ThrowsExactlyAsync<DeviceProtocolException>(() => waiting);
        await Assert.ThrowsExactlyAsync<DeviceProtocolException>(() => session.DequeuedBuffers.Completion);
        await Assert.ThrowsExactlyAsync<DeviceProtocolException>(() => driver.OpenSessionAsync().AsTask());
    });

    private static async Task<uint> OpenAsync(RawDriver driver)
    {
        var open = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(open, (uint)Constants.VIRTIO_MEDIA_CMD_OPEN);
        var answer = await driver.SendAsync(open, 16);
        Assert.AreEqual(16, answer.Length);
        Assert.AreEqual(0u, BinaryPrimitives.ReadUInt32LittleEndian(answer));
        return BinaryPrimitives.ReadUInt32LittleEndian(answer.AsSpan(8));
    }

    private static void WriteOpen(GuestMemory memory, ulong address)
    {
        var open = memory.GetSpan(address, 8);
        open.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(open, (uint)Constants.VIRTIO_MEDIA_CMD_OPEN);
    }

    // OPEN as descriptors 0 and 1 of the raw ring, the first chain it carries; returns the session id.
    private static async Task<uint> OpenOverRingAsync(RawRing ring, GuestMemory memory, ulong request, ulong response)
    {
        WriteOpen(memory, request);
        ring.Make(0, new VirtqDescriptor { addr = request, len = 8, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT, next = 1 });
        ring.Make(1, new VirtqDescriptor { addr = response, len = 16, flags = VirtqDescriptor.VIRTQ_DESC_F_WRITE });
        ring.Publish(0);
        await Streamer.SpinUntil(() => ring.UsedIndex == 1);
        return BinaryPrimitives.ReadUInt32LittleEndian(memory.GetSpan(response + 8, 4));
    }

    [TestMethod]
    public Task A_command_slot_used_for_a_128_segment_chain_shrinks_back_afterwards() => Streamer.Guard(async () =>
    {
        using var inner = new InProcessTransport();
        var ring = new RawRing(inner);
        using var release = new ManualResetEventSlim(initialState: true);
        await using var device = new DeviceEndpoint(inner, LoopbackDevice.Config, _ => new SlowFormatDevice(release));
        inner.Config = device.Config;
        device.Start();
        var memory = inner.Memory;
        var request = ring.Buffers;
        var response = ring.Buffers + 0x1000;
        var session = await OpenOverRingAsync(ring, memory, request, response);

        // One G_FMT in 127 readable buffers (126 of one byte, the rest in the last) and one writable: 128 segments.
        var length = 16 + Unsafe.SizeOf<v4l2_format>();
        var command = memory.GetSpan(request, (ulong)length);
        command.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(command, (uint)Constants.VIRTIO_MEDIA_CMD_IOCTL);
        BinaryPrimitives.WriteUInt32LittleEndian(command[8..], session);
        BinaryPrimitives.WriteUInt32LittleEndian(command[12..], (uint)Ioctls.VIDIOC_G_FMT.Descriptor.Number);
        BinaryPrimitives.WriteUInt32LittleEndian(command[16..], Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE);
        const int Readable = 127;
        for (var i = 0; i < Readable; i++)
        {
            var piece = i < Readable - 1 ? 1u : (uint)(length - (Readable - 1));
            ring.Make(2 + i, new VirtqDescriptor { addr = request + (ulong)i, len = piece, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT, next = (ushort)(3 + i) });
        }
        var answerLength = (uint)(RespHeader + Unsafe.SizeOf<v4l2_format>());
        ring.Make(2 + Readable, new VirtqDescriptor { addr = response, len = answerLength, flags = VirtqDescriptor.VIRTQ_DESC_F_WRITE });
        ring.Publish(2);
        await Streamer.SpinUntil(() => ring.UsedIndex == 2);
        Assert.AreEqual(answerLength, ring.Used(1).Length, "G_FMT of 128 segments answered");
        Assert.AreEqual(0u, BinaryPrimitives.ReadUInt32LittleEndian(memory.GetSpan(response, 4)));

        // The pooled command slots, read through reflection (DeviceCommand is internal to the runtime).
        var pool = typeof(DeviceEndpoint).GetField("_commandPool", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(device)!;
        var items = (Array)pool.GetType().GetField("_items", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(pool)!;
        var slots = items.Cast<object?>().Where(item => item is not null)
            .Select(item => (int)item!.GetType().GetProperty("RetainedSlots", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(item)!).ToList();
        Console.WriteLine($"pooled command slots after a 128-segment chain: {string.Join(", ", slots)} segment slots each");
        Assert.IsTrue(slots.Count > 0, "the command went back to the pool");
        // At most 16 readable, 16 writable and 32 memory managers (DeviceCommand.RetainedSegments = 16).
        Assert.IsTrue(slots.All(count => count <= 64), $"retained segment slots {string.Join(", ", slots)}, bound 64");
    });

    private static void Collect()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
    }

    /// <summary>A command queue written descriptor by descriptor, as a driver that follows no rule of ours would.</summary>
    private sealed class RawRing
    {
        private readonly InProcessTransport _transport;
        private readonly SplitQueueLayout _layout;
        private ushort _available;

        public RawRing(InProcessTransport transport)
        {
            _transport = transport;
            _layout = transport.Driver.CommandQueueLayout;
            var memory = transport.Memory;
            memory.GetSpan(_layout.DescriptorTable, SplitQueueLayout.DescriptorTableSize(_layout.Size)).Clear();
            memory.GetSpan(_layout.AvailableRing, SplitQueueLayout.AvailableRingSize(_layout.Size)).Clear();
            memory.GetSpan(_layout.UsedRing, SplitQueueLayout.UsedRingSize(_layout.Size)).Clear();
            Buffers = transport.Driver.BufferArea.Start;
        }

        public ulong Buffers { get; }

        public ushort UsedIndex => _transport.Memory.ReadUInt16Acquire(_layout.UsedIndex);

        public void Make(int index, VirtqDescriptor descriptor) => _transport.Memory.Write(_layout.Descriptor(index), descriptor);

        /// <summary>Makes the chain at <paramref name="head"/> available and kicks.</summary>
        public void Publish(ushort head)
        {
            _transport.Memory.Write(_layout.AvailableEntry(_available % _layout.Size), head);
            _available++;
            _transport.Memory.WriteUInt16Release(_layout.AvailableIndex, _available);
            _transport.Driver.CommandKickToDevice.Notify();
        }

        public (uint Id, uint Length) Used(int slot) =>
            (_transport.Memory.Read<uint>(_layout.UsedEntry(slot % _layout.Size)), _transport.Memory.Read<uint>(_layout.UsedEntry(slot % _layout.Size) + 4));
    }

    /// <summary>A device whose first G_FMT waits until released, so the session's later commands queue up behind it.</summary>
    private sealed class SlowFormatDevice(ManualResetEventSlim release) : V4l2DeviceHandler<DeviceIoctlContext>
    {
        public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload)
        {
            release.Wait(TimeSpan.FromSeconds(20));
            payload.fmt.pix.width = 64;
            return 0;
        }
    }

    private static async Task<TimeSpan> CpuOverOneSecondAsync()
    {
        var process = Process.GetCurrentProcess();
        var before = process.TotalProcessorTime;
        await Task.Delay(1000);
        process.Refresh();
        return process.TotalProcessorTime - before;
    }
}
