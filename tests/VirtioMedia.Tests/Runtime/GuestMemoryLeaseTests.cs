using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.VhostUser.Interop;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// The lease rule of <see cref="GuestMemory"/>: a set of regions that was replaced (or a memory that was disposed) is
/// unmapped only once no lease taken before the swap is left. The memory is real anonymous mmap memory, unmapped
/// by the release actions, so an access that outlived its mapping would fault and end the test process.
/// </summary>
[TestClass]
public sealed unsafe class GuestMemoryLeaseTests
{
    private const ulong Base = 0x1000_0000;
    private const ulong Size = 64 * 1024;

    [TestMethod]
    public void A_replaced_region_set_is_released_only_when_the_last_lease_from_before_the_swap_is_returned()
    {
        var released = new List<string>();
        using var memory = new GuestMemory([Anonymous(out var first)], () => { released.Add("first"); Unmap(first); });
        var lease = memory.Lease();
        var before = memory.GetSpan(Base, Size);
        before[0] = 0x5A;

        memory.Replace([Anonymous(out var second)], () => { released.Add("second"); Unmap(second); });

        Assert.AreEqual(0, released.Count, "the first table was released while a lease from before the swap was out");
        Assert.AreEqual(0x5A, before[0], "the span read under the lease still sees its memory");
        Assert.AreEqual(1, memory.RetiredGenerations);
        lease.Dispose();
        CollectionAssert.AreEqual(new[] { "first" }, released);
        Assert.AreEqual(0, memory.RetiredGenerations);
        Assert.AreEqual(0, memory.GetSpan(Base, 1)[0], "accesses after the swap see the new (zeroed) memory");
    }

    [TestMethod]
    public void A_lease_from_before_two_swaps_keeps_the_middle_generation_too()
    {
        // A lease on the first generation may have translated addresses through the second while it was current.
        var released = new List<string>();
        using var memory = new GuestMemory([Anonymous(out var first)], () => { released.Add("first"); Unmap(first); });
        var oldest = memory.Lease();
        memory.Replace([Anonymous(out var second)], () => { released.Add("second"); Unmap(second); });
        var middle = memory.GetSpan(Base, Size);
        memory.Replace([Anonymous(out var third)], () => { released.Add("third"); Unmap(third); });

        Assert.AreEqual(0, released.Count, "the second generation has no lease of its own, but the first one's may reach it");
        middle[(int)Size - 1] = 1;
        oldest.Dispose();
        CollectionAssert.AreEqual(new[] { "first", "second" }, released, "released oldest first, once drained");
        memory.Dispose();
        CollectionAssert.AreEqual(new[] { "first", "second", "third" }, released);
    }

    [TestMethod]
    public void Disposing_keeps_leased_memory_until_the_lease_is_returned_and_later_accesses_fail_cleanly()
    {
        var released = 0;
        var memory = new GuestMemory([Anonymous(out var mapping)], () => { released++; Unmap(mapping); });
        var lease = memory.Lease();
        var span = memory.GetSpan(Base, Size);

        memory.Dispose();

        span[123] = 7;
        Assert.AreEqual(0, released);
        Assert.ThrowsExactly<GuestMemoryException>(() => memory.GetSpan(Base, 16));
        Assert.IsFalse(memory.TryGetSpan(Base, 16, out _));
        Assert.ThrowsExactly<ObjectDisposedException>(() => memory.Replace([Anonymous(out var unused)], () => Unmap(unused)));
        using (memory.Lease())
        {
            // A lease after the end leases nothing that can be unmapped.
        }
        lease.Dispose();
        Assert.AreEqual(1, released);
        memory.Dispose();
        Assert.AreEqual(1, released, "a second Dispose releases nothing twice");
    }

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void Readers_under_leases_never_touch_unmapped_memory_while_tables_are_swapped_without_pause()
    {
        // Each table is filled with its own nonzero number; readers take a lease, read and write every page, and
        // check that what they read belongs to one table. A read of an unmapped page would fault (SIGSEGV).
        var swaps = 0;
        var released = 0;
        var reads = 0L;
        var bad = 0;
        var stop = 0;
        using var memory = new GuestMemory([Filled(1, out var initial)], () => { Interlocked.Increment(ref released); Unmap(initial); });
        var readers = new Task[2];
        for (var r = 0; r < readers.Length; r++)
        {
            readers[r] = Task.Factory.StartNew(() =>
            {
                while (Volatile.Read(ref stop) == 0)
                {
                    using var lease = memory.Lease();
                    var span = memory.GetSpan(Base, Size);
                    var tag = span[0];
                    for (var page = 0; page < span.Length; page += 4096)
                    {
                        if (span[page] != tag || tag == 0)
                        {
                            Interlocked.Increment(ref bad);
                        }
                    }
                    Thread.SpinWait(50); // holds the lease across a possible swap
                    if (span[span.Length - 1] != tag)
                    {
                        Interlocked.Increment(ref bad);
                    }
                    Interlocked.Increment(ref reads);
                }
            }, TaskCreationOptions.LongRunning);
        }
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        while (DateTime.UtcNow < deadline)
        {
            var tag = (byte)(swaps % 250 + 2);
            var region = Filled(tag, out var mapping);
            memory.Replace([region], () => { Interlocked.Increment(ref released); Unmap(mapping); });
            swaps++;
            Thread.Yield();
        }
        Volatile.Write(ref stop, 1);
        Task.WaitAll(readers);

        Assert.AreEqual(0, bad, "a reader saw memory that belongs to no single table");
        Assert.IsTrue(swaps > 100 && reads > 100, $"too little contention to mean anything: {swaps} swaps, {reads} reads");
        Assert.AreEqual(swaps, Volatile.Read(ref released), "every replaced table is unmapped once its leases are gone");
        Assert.AreEqual(0, memory.RetiredGenerations);
    }

    [TestMethod]
    public void Shared_memory_region_0_is_unmapped_once_disposed_and_its_last_lease_returned_and_only_once()
    {
        var released = 0;
        Anonymous(out var mapping);
        var region = new SharedMemoryRegion(0, mapping, Size, () => { released++; Unmap(mapping); });
        var lease = region.Lease();
        var span = region.GetSpan(0, Size);

        region.Dispose();

        span[4095] = 3; // the leased span is still mapped
        Assert.AreEqual(0, released);
        Assert.IsFalse(region.TryGetSpan(0, 1, out _), "an access after the end found memory");
        using (region.Lease())
        {
            Assert.IsFalse(region.TryGetSpan(0, 1, out _), "a lease taken after the end holds nothing");
        }
        Assert.AreEqual(0, released, "a lease refused after the end released the region under the first one");
        lease.Dispose();
        Assert.AreEqual(1, released);
        region.Lease().Dispose();
        region.Dispose();
        Assert.AreEqual(1, released, "released twice");
    }

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void Copies_into_region_0_under_leases_never_fault_when_the_region_ends_beneath_them()
    {
        // Over and over: two threads copy frames into a region of real mmap memory while a third ends it.
        for (var round = 0; round < 200; round++)
        {
            var released = 0;
            Anonymous(out var mapping);
            var region = new SharedMemoryRegion(0, mapping, Size, () => { Interlocked.Increment(ref released); Unmap(mapping); });
            var frame = new byte[Size];
            var copiers = new Task[2];
            for (var c = 0; c < copiers.Length; c++)
            {
                copiers[c] = Task.Factory.StartNew(() =>
                {
                    for (var i = 0; i < 50; i++)
                    {
                        using var lease = region.Lease();
                        if (!region.TryGetSpan(0, Size, out var span))
                        {
                            return;
                        }
                        frame.CopyTo(span);
                    }
                }, TaskCreationOptions.LongRunning);
            }
            Thread.SpinWait(round * 37 % 2000);
            region.Dispose();
            Task.WaitAll(copiers);
            Assert.AreEqual(1, Volatile.Read(ref released), $"round {round}");
        }
    }

    private static GuestMemoryRegion Filled(byte tag, out IntPtr mapping)
    {
        var region = Anonymous(out mapping);
        new Span<byte>((void*)mapping, (int)Size).Fill(tag);
        return region;
    }

    private static GuestMemoryRegion Anonymous(out IntPtr mapping)
    {
        var address = LibC.Mmap(null, (nuint)Size, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS, -1, 0);
        Assert.AreNotEqual(-1L, (long)address, "mmap failed");
        mapping = (IntPtr)address;
        return new GuestMemoryRegion(Base, Size, mapping);
    }

    private static void Unmap(IntPtr mapping) => Assert.AreEqual(0, LibC.Munmap((void*)mapping, (nuint)Size));
}
