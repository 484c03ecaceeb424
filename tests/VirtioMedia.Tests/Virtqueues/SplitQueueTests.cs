using System;
using System.Collections.Generic;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Tests.Virtqueues;

[TestClass]
public sealed class SplitQueueTests
{
    private const ulong RingBase = 0x1000;
    private const ulong BufferBase = 0x20000;

    [TestMethod]
    public void Layout_follows_the_spec_formulas()
    {
        // virtio 1.x 2.7: descriptor table 16*N aligned 16, available ring 6+2*N aligned 2,
        // used ring 6+8*N aligned 4. For N = 256 laid out from 0: 4096, then 518 bytes, then 4616.
        var layout = SplitQueueLayout.Contiguous(256, 0);
        Assert.AreEqual(0UL, layout.DescriptorTable);
        Assert.AreEqual(4096UL, layout.AvailableRing);
        Assert.AreEqual(4616UL, layout.UsedRing); // 4096 + 518 = 4614, rounded up to 4
        Assert.AreEqual(4616UL + 2054UL, SplitQueueLayout.ContiguousSize(256));
        Assert.AreEqual(4096UL + 4 + 2 * 256, layout.UsedEvent);
        Assert.AreEqual(4616UL + 4 + 8 * 256, layout.AvailableEvent);
        Assert.AreEqual(4616UL + 4 + 8 * 3, layout.UsedEntry(3));

        var one = SplitQueueLayout.Contiguous(1, 0);
        Assert.AreEqual(16UL, one.AvailableRing);
        Assert.AreEqual(24UL, one.UsedRing); // 16 + 8 = 24 already aligned to 4
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => SplitQueueLayout.ValidateSize(3));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => SplitQueueLayout.ValidateSize(65536));
    }

    [TestMethod]
    public void NeedEvent_matches_the_spec_definition()
    {
        // vring_need_event(event, new, old) = (u16)(new - event - 1) < (u16)(new - old)
        Assert.IsTrue(VirtqRingFlags.NeedEvent(eventIndex: 5, newIndex: 6, oldIndex: 5));
        Assert.IsFalse(VirtqRingFlags.NeedEvent(eventIndex: 7, newIndex: 6, oldIndex: 5));
        Assert.IsTrue(VirtqRingFlags.NeedEvent(eventIndex: 65535, newIndex: 1, oldIndex: 65534)); // across the wrap
        Assert.IsFalse(VirtqRingFlags.NeedEvent(eventIndex: 2, newIndex: 1, oldIndex: 65534));
    }

    [TestMethod]
    public void A_chain_crosses_from_driver_to_device_and_back()
    {
        using var memory = GuestMemory.Allocate(0, 1 << 20);
        var (driver, device) = Pair(memory, 8, eventIndex: false);
        memory.GetSpan(BufferBase, 4).Fill(0xAB);

        Assert.IsTrue(driver.TryAdd(
            new[] { new ChainSegment(BufferBase, 4), new ChainSegment(BufferBase + 100, 8) },
            new[] { new ChainSegment(BufferBase + 200, 16) },
            "first",
            out var kick));
        Assert.IsTrue(kick, "without EVENT_IDX and with notifications on, every add kicks");

        Assert.IsTrue(device.TryPop(out var chain));
        CollectionAssert.AreEqual(new[] { new ChainSegment(BufferBase, 4), new ChainSegment(BufferBase + 100, 8) }, ToArray(chain.Readable));
        CollectionAssert.AreEqual(new[] { new ChainSegment(BufferBase + 200, 16) }, ToArray(chain.Writable));
        Assert.AreEqual((byte)0xAB, memory.GetSpan(chain.Readable[0].Address, 1)[0]);
        memory.GetSpan(chain.Writable[0].Address, 16).Fill(0xCD);
        Assert.IsTrue(device.Push(chain, 16));
        Assert.IsFalse(device.TryPop(out _));

        Assert.IsTrue(driver.TryTakeUsed(out var token, out var written));
        Assert.AreEqual("first", token);
        Assert.AreEqual(16u, written);
        Assert.AreEqual(8, driver.FreeDescriptors);
        Assert.IsFalse(driver.TryTakeUsed(out _, out _));
    }

    [TestMethod]
    public void Indexes_wrap_around_16_bits()
    {
        using var memory = GuestMemory.Allocate(0, 1 << 20);
        var (driver, device) = Pair(memory, 4, eventIndex: true);
        var inFlight = new Queue<int>();
        for (var i = 0; i < 70_000; i++)
        {
            Assert.IsTrue(driver.TryAdd(new[] { new ChainSegment(BufferBase, 1) }, new[] { new ChainSegment(BufferBase + 64, 4) }, i, out _));
            inFlight.Enqueue(i);
            Assert.IsTrue(device.TryPop(out var chain));
            device.Push(chain, (uint)(i % 5));
            Assert.IsTrue(driver.TryTakeUsed(out var token, out var written));
            Assert.AreEqual(inFlight.Dequeue(), token);
            Assert.AreEqual((uint)(i % 5), written);
        }
        Assert.AreEqual((ushort)(70_000 % 65536), memory.Read<ushort>(driver.Layout.AvailableIndex));
        Assert.AreEqual((ushort)(70_000 % 65536), memory.Read<ushort>(driver.Layout.UsedIndex));
    }

    [TestMethod]
    public void Event_index_suppresses_kicks_until_the_device_asks()
    {
        using var memory = GuestMemory.Allocate(0, 1 << 20);
        var (driver, device) = Pair(memory, 8, eventIndex: true);
        var segment = new[] { new ChainSegment(BufferBase, 1) };

        // avail_event starts at 0: the first add (0 -> 1) crosses it.
        Assert.IsTrue(driver.TryAdd(segment, default, 1, out var kick1));
        Assert.IsTrue(kick1);
        // The device has not caught up (avail_event still 0): no more kicks are needed.
        Assert.IsTrue(driver.TryAdd(segment, default, 2, out var kick2));
        Assert.IsFalse(kick2);

        Assert.IsTrue(device.TryPop(out var first));
        Assert.IsTrue(device.TryPop(out var second));
        Assert.IsFalse(device.SetNotification(true), "nothing new arrived while re-arming");
        Assert.AreEqual((ushort)2, memory.Read<ushort>(device.Layout.AvailableEvent));

        Assert.IsTrue(driver.TryAdd(segment, default, 3, out var kick3));
        Assert.IsTrue(kick3, "avail_event = 2 is crossed by 2 -> 3");

        // used_event: the driver asked for an interrupt after used index 0 -> 1 only.
        Assert.IsTrue(device.Push(first, 0));
        Assert.IsFalse(device.Push(second, 0));
    }

    [TestMethod]
    public void Indirect_tables_are_followed_when_negotiated()
    {
        using var memory = GuestMemory.Allocate(0, 1 << 20);
        var layout = SplitQueueLayout.Contiguous(8, RingBase);
        var device = new DeviceQueue(memory, layout, eventIndex: false, indirectDescriptors: true);
        const ulong table = 0x40000;
        memory.Write(table, new VirtqDescriptor { addr = BufferBase, len = 10, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT, next = 1 });
        memory.Write(table + 16, new VirtqDescriptor { addr = BufferBase + 64, len = 20, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT | VirtqDescriptor.VIRTQ_DESC_F_WRITE, next = 2 });
        memory.Write(table + 32, new VirtqDescriptor { addr = BufferBase + 128, len = 30, flags = VirtqDescriptor.VIRTQ_DESC_F_WRITE });
        memory.Write(layout.Descriptor(5), new VirtqDescriptor { addr = table, len = 48, flags = VirtqDescriptor.VIRTQ_DESC_F_INDIRECT });
        MakeAvailable(memory, layout, 5);

        Assert.IsTrue(device.TryPop(out var chain));
        Assert.AreEqual((ushort)5, chain.Head);
        Assert.AreEqual(10UL, chain.ReadableLength);
        Assert.AreEqual(50UL, chain.WritableLength);
        CollectionAssert.AreEqual(new[] { new ChainSegment(BufferBase + 64, 20), new ChainSegment(BufferBase + 128, 30) }, ToArray(chain.Writable));
    }

    [TestMethod]
    public void Hostile_rings_break_the_queue_once_and_are_never_re_read()
    {
        var cases = new (string Name, Action<GuestMemory, SplitQueueLayout> Build)[]
        {
            ("a loop", (m, l) =>
            {
                m.Write(l.Descriptor(0), new VirtqDescriptor { addr = BufferBase, len = 1, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT, next = 1 });
                m.Write(l.Descriptor(1), new VirtqDescriptor { addr = BufferBase, len = 1, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT, next = 0 });
                MakeAvailable(m, l, 0);
            }),
            ("a head out of range", (m, l) => MakeAvailable(m, l, 8)),
            ("avail.idx more than the queue size ahead", (m, l) => m.Write(l.AvailableIndex, (ushort)(l.Size + 5))),
            ("a chain longer than the limit", (m, l) =>
            {
                for (var i = 0; i < 3; i++)
                {
                    m.Write(l.Descriptor(i), new VirtqDescriptor { addr = BufferBase, len = 1, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT, next = (ushort)(i + 1) });
                }
                m.Write(l.Descriptor(3), new VirtqDescriptor { addr = BufferBase, len = 1 });
                MakeAvailable(m, l, 0);
            }),
            ("an indirect descriptor when VIRTIO_F_INDIRECT_DESC was not negotiated", (m, l) =>
            {
                m.Write(0x40000UL, new VirtqDescriptor { addr = BufferBase, len = 1 });
                m.Write(l.Descriptor(0), new VirtqDescriptor { addr = 0x40000, len = 16, flags = VirtqDescriptor.VIRTQ_DESC_F_INDIRECT });
                MakeAvailable(m, l, 0);
            }),
            ("an indirect table larger than the limit", (m, l) =>
            {
                m.Write(l.Descriptor(0), new VirtqDescriptor { addr = 0x40000, len = 16 * 5, flags = VirtqDescriptor.VIRTQ_DESC_F_INDIRECT });
                MakeAvailable(m, l, 0);
            }),
            ("a next index out of range", (m, l) =>
            {
                m.Write(l.Descriptor(0), new VirtqDescriptor { addr = BufferBase, len = 1, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT, next = 9 });
                MakeAvailable(m, l, 0);
            }),
            ("a buffer beyond guest memory", (m, l) =>
            {
                m.Write(l.Descriptor(0), new VirtqDescriptor { addr = (1 << 20) - 4, len = 8 });
                MakeAvailable(m, l, 0);
            }),
            ("a buffer whose end wraps the address space", (m, l) =>
            {
                m.Write(l.Descriptor(0), new VirtqDescriptor { addr = ulong.MaxValue - 2, len = 8 });
                MakeAvailable(m, l, 0);
            }),
            ("a readable buffer after a writable one", (m, l) =>
            {
                m.Write(l.Descriptor(0), new VirtqDescriptor { addr = BufferBase, len = 1, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT | VirtqDescriptor.VIRTQ_DESC_F_WRITE, next = 1 });
                m.Write(l.Descriptor(1), new VirtqDescriptor { addr = BufferBase, len = 1 });
                MakeAvailable(m, l, 0);
            }),
            ("an indirect table inside an indirect table", (m, l) =>
            {
                m.Write(0x40000UL, new VirtqDescriptor { addr = 0x40000, len = 16, flags = VirtqDescriptor.VIRTQ_DESC_F_INDIRECT });
                m.Write(l.Descriptor(0), new VirtqDescriptor { addr = 0x40000, len = 16, flags = VirtqDescriptor.VIRTQ_DESC_F_INDIRECT });
                MakeAvailable(m, l, 0);
            }),
            ("an indirect table of odd length", (m, l) =>
            {
                m.Write(l.Descriptor(0), new VirtqDescriptor { addr = 0x40000, len = 20, flags = VirtqDescriptor.VIRTQ_DESC_F_INDIRECT });
                MakeAvailable(m, l, 0);
            }),
            ("an indirect table that loops", (m, l) =>
            {
                m.Write(0x40000UL, new VirtqDescriptor { addr = BufferBase, len = 1, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT, next = 1 });
                m.Write(0x40010UL, new VirtqDescriptor { addr = BufferBase, len = 1, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT, next = 0 });
                m.Write(l.Descriptor(0), new VirtqDescriptor { addr = 0x40000, len = 32, flags = VirtqDescriptor.VIRTQ_DESC_F_INDIRECT });
                MakeAvailable(m, l, 0);
            }),
        };

        foreach (var (name, build) in cases)
        {
            using var memory = GuestMemory.Allocate(0, 1 << 20);
            var layout = SplitQueueLayout.Contiguous(8, RingBase);
            // Indirect tables are negotiated except in the case that tests their refusal; the limits are small so a
            // short chain can exceed them.
            var indirect = !name.Contains("not negotiated", StringComparison.Ordinal);
            var device = new DeviceQueue(memory, layout, eventIndex: false, indirectDescriptors: indirect, limits: new DeviceQueueLimits(MaxChainDescriptors: 3, MaxIndirectTableEntries: 4));
            build(memory, layout);
            Assert.AreEqual(PopResult.RingBroken, device.Pop(out _), name);
            Assert.IsTrue(device.NeedsReset, name);
            Assert.IsNotNull(device.Error, name);
            Assert.AreEqual((ushort)0, memory.Read<ushort>(layout.UsedIndex), $"{name}: a broken queue writes nothing into the used ring");

            // Whatever the driver does next, a broken queue reads nothing: a well-formed chain is not served either.
            memory.Write(layout.Descriptor(7), new VirtqDescriptor { addr = BufferBase, len = 1 });
            memory.Write(layout.AvailableEntry(0), (ushort)7);
            memory.Write(layout.AvailableIndex, (ushort)1);
            for (var i = 0; i < 3; i++)
            {
                Assert.AreEqual(PopResult.NeedsReset, device.Pop(out _), $"{name}: reported once, then needs a reset");
                Assert.IsFalse(device.TryPop(out _), name);
                Assert.IsFalse(device.SetNotification(true), $"{name}: nothing to re-check on a broken queue");
            }

            // A reset (a new queue over the rings the driver set up again) serves the good chain.
            memory.Write(layout.AvailableIndex, (ushort)1);
            memory.Write(layout.UsedIndex, (ushort)0);
            var reset = new DeviceQueue(memory, layout, eventIndex: false, indirectDescriptors: indirect);
            Assert.AreEqual(PopResult.Chain, reset.Pop(out var chain), name);
            Assert.AreEqual((ushort)7, chain.Head, name);
        }
    }

    [TestMethod]
    public void Queue_limits_default_to_the_Linux_drivers_longest_chain_and_refuse_nonsense()
    {
        // DESC_CHAIN_MAX_LEN = SG_MAX_SINGLE_ALLOC = 4096 / sizeof(struct scatterlist) (32 on 64-bit) = 128.
        Assert.AreEqual(new DeviceQueueLimits(128, 128), new DeviceQueueLimits());
        Assert.AreEqual(new DeviceQueueLimits(), DeviceQueueLimits.Default);
        using var memory = GuestMemory.Allocate(0, 1 << 20);
        var layout = SplitQueueLayout.Contiguous(8, RingBase);
        Assert.AreEqual(DeviceQueueLimits.Default, new DeviceQueue(memory, layout, eventIndex: false).Limits);
        Assert.IsFalse(new DeviceQueue(memory, layout, eventIndex: false).IndirectDescriptors, "indirect tables only when negotiated");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new DeviceQueue(memory, layout, false, limits: default(DeviceQueueLimits)));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new DeviceQueue(memory, layout, false, limits: new DeviceQueueLimits(MaxIndirectTableEntries: 32769)));
    }

    [TestMethod]
    public void Chains_popped_before_the_break_can_still_be_returned()
    {
        using var memory = GuestMemory.Allocate(0, 1 << 20);
        var (driver, device) = Pair(memory, 8, eventIndex: false);
        Assert.IsTrue(driver.TryAdd(new[] { new ChainSegment(BufferBase, 1) }, new[] { new ChainSegment(BufferBase + 64, 4) }, "x", out _));
        Assert.AreEqual(PopResult.Chain, device.Pop(out var chain));
        memory.Write(driver.Layout.AvailableIndex, (ushort)100);
        Assert.AreEqual(PopResult.RingBroken, device.Pop(out _));
        device.Push(chain, 4);
        Assert.IsTrue(driver.TryTakeUsed(out var token, out var written));
        Assert.AreEqual(("x", 4u), (token, written));
    }

    [TestMethod]
    public void A_long_chain_gives_its_room_back_to_the_pool()
    {
        using var memory = GuestMemory.Allocate(0, 1 << 20);
        var layout = SplitQueueLayout.Contiguous(256, RingBase);
        var device = new DeviceQueue(memory, layout, eventIndex: false);
        for (var i = 0; i < 100; i++)
        {
            memory.Write(layout.Descriptor(i), new VirtqDescriptor { addr = BufferBase, len = 1, flags = VirtqDescriptor.VIRTQ_DESC_F_NEXT, next = (ushort)(i + 1) });
        }
        memory.Write(layout.Descriptor(100), new VirtqDescriptor { addr = BufferBase, len = 1 });
        MakeAvailable(memory, layout, 0);
        Assert.AreEqual(PopResult.Chain, device.Pop(out var chain));
        Assert.AreEqual(101, chain.Readable.Count);
        device.Push(chain, 0);
        // The same pooled object, with its lists cut back to the retained bound.
        Assert.AreEqual(0, chain.Readable.Count);
        var capacity = (List<ChainSegment>)typeof(DescriptorChain).GetField("_readable", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(chain)!;
        Assert.IsTrue(capacity.Capacity <= 16, $"capacity {capacity.Capacity}");
    }

    [TestMethod]
    public void A_hostile_device_cannot_return_what_is_not_in_flight()
    {
        using var memory = GuestMemory.Allocate(0, 1 << 20);
        var (driver, _) = Pair(memory, 8, eventIndex: false);
        var layout = driver.Layout;
        Assert.IsTrue(driver.TryAdd(new[] { new ChainSegment(BufferBase, 1) }, new[] { new ChainSegment(BufferBase + 64, 4) }, "x", out _));

        // Chain 3 was never made available.
        memory.Write(layout.UsedEntry(0), 3u);
        memory.Write(layout.UsedIndex, (ushort)1);
        Assert.ThrowsExactly<VirtqueueException>(() => driver.TryTakeUsed(out _, out _));

        // Chain 0 is in flight but only has 4 writable bytes.
        memory.Write(layout.UsedEntry(0), 0u);
        memory.Write(layout.UsedEntry(0) + 4, 5u);
        Assert.ThrowsExactly<VirtqueueException>(() => driver.TryTakeUsed(out _, out _));

        // More used entries than chains in flight.
        memory.Write(layout.UsedIndex, (ushort)2);
        Assert.ThrowsExactly<VirtqueueException>(() => driver.TryTakeUsed(out _, out _));

        memory.Write(layout.UsedEntry(0) + 4, 4u);
        memory.Write(layout.UsedIndex, (ushort)1);
        Assert.IsTrue(driver.TryTakeUsed(out var token, out var written));
        Assert.AreEqual("x", token);
        Assert.AreEqual(4u, written);
    }

    [TestMethod]
    public void A_device_rewriting_next_fields_cannot_corrupt_the_drivers_free_list()
    {
        using var memory = GuestMemory.Allocate(0, 1 << 20);
        var (driver, _) = Pair(memory, 8, eventIndex: false);
        var layout = driver.Layout;
        var three = new[] { new ChainSegment(BufferBase, 1), new ChainSegment(BufferBase + 1, 1) };
        Assert.IsTrue(driver.TryAdd(three, new[] { new ChainSegment(BufferBase + 64, 4) }, "a", out _));
        Assert.IsTrue(driver.TryAdd(new[] { new ChainSegment(BufferBase + 2, 1) }, new[] { new ChainSegment(BufferBase + 128, 4) }, "b", out _));

        // A raw used-ring writer: every next field of the table is pointed at descriptor 3 (chain "b"'s head, in
        // flight) before chain "a" (head 0) comes back. Walking shared next fields would free "b" twice.
        for (var i = 0; i < layout.Size; i++)
        {
            memory.Write(layout.Descriptor(i) + 14, (ushort)3);
        }
        memory.Write(layout.UsedEntry(0), 0u);
        memory.Write(layout.UsedEntry(0) + 4, 4u);
        memory.WriteUInt16Release(layout.UsedIndex, 1);
        Assert.IsTrue(driver.TryTakeUsed(out var token, out _));
        Assert.AreEqual("a", token);
        Assert.AreEqual(6, driver.FreeDescriptors);

        // Six single-buffer chains fit, each on a distinct free descriptor: none of them is chain "b"'s.
        var heads = new HashSet<ushort>();
        for (var i = 0; i < 6; i++)
        {
            Assert.IsTrue(driver.TryAdd(new[] { new ChainSegment(BufferBase, 1) }, ReadOnlySpan<ChainSegment>.Empty, i, out _), $"chain {i}");
            heads.Add(memory.Read<ushort>(layout.AvailableEntry(2 + i)));
        }
        Assert.AreEqual(6, heads.Count);
        Assert.IsFalse(heads.Contains(3) || heads.Contains(4), "chain b's descriptors are still in flight");
        Assert.IsFalse(driver.TryAdd(new[] { new ChainSegment(BufferBase, 1) }, ReadOnlySpan<ChainSegment>.Empty, 7, out _));
    }

    [TestMethod]
    public void Guest_memory_accesses_are_checked()
    {
        using var memory = new GuestMemory(GuestMemoryRegion.Allocate(0x1000, 0x1000), GuestMemoryRegion.Allocate(0x3000, 0x1000));
        Assert.IsTrue(memory.TryGetSpan(0x1000, 0x1000, out _));
        Assert.IsFalse(memory.TryGetSpan(0x1800, 0x1000, out _), "spans two regions with a hole");
        Assert.IsFalse(memory.TryGetSpan(0x2000, 1, out _), "in the hole");
        Assert.IsFalse(memory.TryGetSpan(ulong.MaxValue, 2, out _), "wraps");
        Assert.ThrowsExactly<GuestMemoryException>(() => memory.Read<ulong>(0x1FFC));
        Assert.ThrowsExactly<GuestMemoryException>(() => memory.ReadUInt16Acquire(0x1001));
        Assert.ThrowsExactly<ArgumentException>(() => new GuestMemory(GuestMemoryRegion.Allocate(0, 0x2000), GuestMemoryRegion.Allocate(0x1000, 0x1000)));
    }

    private static (DriverQueue<object> Driver, DeviceQueue Device) Pair(GuestMemory memory, ushort size, bool eventIndex)
    {
        var layout = SplitQueueLayout.Contiguous(size, RingBase);
        var driver = new DriverQueue<object>(memory, layout, eventIndex);
        return (driver, new DeviceQueue(memory, layout, eventIndex));
    }

    private static void MakeAvailable(GuestMemory memory, SplitQueueLayout layout, ushort head)
    {
        var index = memory.Read<ushort>(layout.AvailableIndex);
        memory.Write(layout.AvailableEntry(index % layout.Size), head);
        memory.Write(layout.AvailableIndex, (ushort)(index + 1));
    }

    private static ChainSegment[] ToArray(IReadOnlyList<ChainSegment> segments)
    {
        var array = new ChainSegment[segments.Count];
        for (var i = 0; i < array.Length; i++)
        {
            array[i] = segments[i];
        }
        return array;
    }
}
