using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>
/// Guest memory and shared memory region 0 while the device runs, driven by a raw front-end over a real
/// socket: a table that changes under a running device, what the back-end sends on its channel around
/// starts and stops, and a back-end or front-end without shared memory.
/// </summary>
[TestClass]
public sealed class VhostUserMemoryLifecycleTests
{
    // vhost-user.rst of QEMU 11: request ids, protocol feature bits, back-end request ids.
    private const uint GetProtocolFeatures = 15, SetProtocolFeatures = 16, SetMemTable = 5, SetVringNum = 8, SetVringAddr = 9,
        GetVringBase = 11, SetVringKick = 12, SetVringEnable = 18, SetBackendReqFd = 21, GetShmemConfig = 44, ShmemMap = 9;

    private const ulong ReplyAck = 1UL << 3, BackendReq = 1UL << 5, BackendSendFd = 1UL << 10, Shmem = 1UL << 22;
    private const ulong RingUser = 0x7000_0000, RingGuest = 0x10000, BufferUser = 0x7100_0000, BufferGuest = 0x100000;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    [TestMethod]
    public async Task A_table_that_drops_a_region_swaps_in_place_and_unmaps_it_once_the_last_access_that_may_use_it_is_done()
    {
        var leased = new TaskCompletionSource<IDeviceTransport>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var readUnderLease = -1;
        // A device in the middle of a slow access to guest memory: it holds a lease and a span into the buffer
        // region, and goes on until released, whatever a new table or the stop says; then reads through the span.
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions { Config = new byte[40], SharedMemorySize = 0, StopTimeout = TimeSpan.FromMilliseconds(200) },
            async (transport, token) =>
            {
                using var registration = token.Register(() => cancelled.TrySetResult());
                var lease = transport.Memory.Lease();
                var host = HostAddress(transport, BufferGuest + 0x123);
                leased.TrySetResult(transport);
                await release.Task;
                readUnderLease = Marshal.ReadByte(host);
                lease.Dispose();
            });
        var (channel, server) = VhostUserChannel.CreatePair();
        var serving = backend.ServeConnectionAsync(server, CancellationToken.None);
        using var rings = MemoryFile.Create("rings", 1 << 16);
        using var buffers = MemoryFile.Create("buffers", 1 << 16);
        buffers.Mapping.Span[0x123] = 0x5A;
        using var client = new RawFrontend(channel);
        using var kick0 = EventFd.Create();
        using var kick1 = EventFd.Create();

        NegotiateAndSetRings(client, ReplyAck, Table((RingGuest, RingUser, rings), (BufferGuest, BufferUser, buffers)), [rings.Descriptor, buffers.Descriptor], kick0, kick1);
        Enable(client);
        var transport = await leased.Task.WaitAsync(Patience);
        var commandQueue = transport.CommandQueue;
        Assert.AreEqual(0x5A, transport.Memory.GetSpan(BufferGuest + 0x123, 1)[0]);
        var ringsHost = transport.Memory.Regions.ToArray().Single(r => r.GuestAddress == RingGuest).Host;
        var buffersHost = transport.Memory.Regions.ToArray().Single(r => r.GuestAddress == BufferGuest).Host;

        // The table without the buffer region: acknowledged, the device runs on with the same queues,
        // the rings' file keeps its mapping, the buffer region is gone from the device's view...
        Assert.AreEqual(0UL, client.CallU64(SetMemTable, RawFrontend.Version | RawFrontend.NeedReply, Table((RingGuest, RingUser, rings)), rings.Descriptor));
        Assert.IsFalse(cancelled.Task.IsCompleted, "a new memory table stopped the device");
        Assert.AreSame(commandQueue, transport.CommandQueue);
        Assert.AreEqual(1, transport.Memory.Regions.Length);
        Assert.AreEqual(ringsHost, transport.Memory.Regions[0].Host, "an unchanged file is mapped again");
        Assert.IsFalse(transport.Memory.TryGetSpan(BufferGuest, 1, out _));
        // ...but still mapped, since an access that began before the swap holds a lease.
        Assert.IsTrue(IsMapped(buffersHost), "the dropped region was unmapped under a leased access");

        // A stop gives up waiting for the slow access after its timeout and the front-end goes away: the
        // memory is still not unmapped under the access.
        client.Send(SetVringEnable, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.State(0, 0));
        await cancelled.Task.WaitAsync(Patience);
        await Task.Delay(300);
        Assert.IsTrue(IsMapped(buffersHost), "the dropped region was unmapped while a lease on it was out");

        // The access ends: what it read is the guest's byte (no fault), and right after, the region is unmapped.
        release.SetResult();
        await WaitUntil(() => readUnderLease >= 0);
        Assert.AreEqual(0x5A, readUnderLease);
        await WaitUntil(() => !IsMapped(buffersHost));
        Assert.IsTrue(IsMapped(ringsHost), "the current table's region was unmapped");
        client.Channel.Shutdown();
        await serving.WaitAsync(Patience);
        await WaitUntil(() => !IsMapped(ringsHost));
    }

    /// <summary>The host address of a guest byte, as an access keeps it (a span cannot live across an await).</summary>
    private static unsafe IntPtr HostAddress(IDeviceTransport transport, ulong address) =>
        (IntPtr)Unsafe.AsPointer(ref transport.Memory.GetSpan(address, 1)[0]);

    [TestMethod]
    public async Task Region_0_is_mapped_only_while_the_device_is_started_and_never_unmapped_after_a_stop()
    {
        var starts = 0;
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions { Config = new byte[40], SharedMemorySize = 1 << 16, StopTimeout = Patience, ReplyTimeout = Patience },
            async (_, token) =>
            {
                Interlocked.Increment(ref starts);
                await Task.Delay(Timeout.Infinite, token).ContinueWith(_ => { }, TaskScheduler.Default);
            });
        var (channel, server) = VhostUserChannel.CreatePair();
        var serving = backend.ServeConnectionAsync(server, CancellationToken.None);
        using var rings = MemoryFile.Create("rings", 1 << 16);
        using var client = new RawFrontend(channel);
        using var kick0 = EventFd.Create();
        using var kick1 = EventFd.Create();
        var (mine, theirs) = VhostUserChannel.CreateSocketPair();
        using var backendChannel = new VhostUserChannel(mine);

        Assert.AreNotEqual(0UL, client.CallU64(GetProtocolFeatures, RawFrontend.Version, []) & Shmem, "SHMEM (bit 22) offered");
        client.Send(SetProtocolFeatures, RawFrontend.Version, RawFrontend.U64(ReplyAck | BackendReq | BackendSendFd | Shmem));
        using (theirs)
        {
            Assert.AreEqual(0UL, client.CallU64(SetBackendReqFd, RawFrontend.Version | RawFrontend.NeedReply, [], theirs));
        }
        var config = client.Call(GetShmemConfig, RawFrontend.Version, []);
        Assert.AreEqual(2056, config.Length, "u32 nregions, u32 padding, u64 sizes[256]");
        Assert.AreEqual(1u, BinaryPrimitives.ReadUInt32LittleEndian(config));
        Assert.AreEqual(0u, BinaryPrimitives.ReadUInt32LittleEndian(config.AsSpan(4)));
        Assert.AreEqual(1UL << 16, BinaryPrimitives.ReadUInt64LittleEndian(config.AsSpan(8)));
        Assert.IsTrue(config.AsSpan(16).IndexOfAnyExcept((byte)0) < 0, "regions 1 to 255 are unused");
        SetRings(client, Table((RingGuest, RingUser, rings)), [rings.Descriptor], kick0, kick1);

        // Everything set but the rings not enabled: the device is not started, so nothing is mapped.
        Assert.IsTrue(Silent(backendChannel), "SHMEM_MAP before the device started");
        Enable(client);
        AcknowledgeMap(backendChannel, 1 << 16);
        await WaitUntil(() => Volatile.Read(ref starts) == 1);

        // GET_VRING_BASE stops the device ("Ring states"); the front-end drops mappings at reset by itself.
        client.Call(GetVringBase, RawFrontend.Version, RawFrontend.State(0, 0));
        Assert.IsTrue(Silent(backendChannel), "a back-end request (SHMEM_UNMAP) after the stop");

        // Started again (a new kick descriptor for ring 0): mapped again.
        using var kick2 = EventFd.Create();
        Assert.AreEqual(0UL, client.CallU64(SetVringKick, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.U64(0), kick2));
        AcknowledgeMap(backendChannel, 1 << 16);
        await WaitUntil(() => Volatile.Read(ref starts) == 2);

        // The front-end goes away: the channel ends without an unmap.
        client.Channel.Shutdown();
        await serving.WaitAsync(Patience);
        using var late = backendChannel.Receive(Patience);
        Assert.IsNull(late, late is null ? "" : $"back-end request {late.Request} after the connection closed");
    }

    [TestMethod]
    public async Task A_refused_SHMEM_MAP_is_logged_and_counted_and_the_device_is_served_all_the_same()
    {
        var log = new List<string>();
        var starts = 0;
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions
            {
                Config = new byte[40],
                SharedMemorySize = 1 << 16,
                StopTimeout = Patience,
                ReplyTimeout = Patience,
                Log = line => { lock (log) { log.Add(line); } },
            },
            async (_, token) =>
            {
                Interlocked.Increment(ref starts);
                await Task.Delay(Timeout.Infinite, token).ContinueWith(_ => { }, TaskScheduler.Default);
            });
        var (channel, server) = VhostUserChannel.CreatePair();
        var serving = backend.ServeConnectionAsync(server, CancellationToken.None);
        using var rings = MemoryFile.Create("rings", 1 << 16);
        using var client = new RawFrontend(channel);
        using var kick0 = EventFd.Create();
        using var kick1 = EventFd.Create();
        var (mine, theirs) = VhostUserChannel.CreateSocketPair();
        using var backendChannel = new VhostUserChannel(mine);
        client.Send(SetProtocolFeatures, RawFrontend.Version, RawFrontend.U64(ReplyAck | BackendReq | BackendSendFd | Shmem));
        using (theirs)
        {
            Assert.AreEqual(0UL, client.CallU64(SetBackendReqFd, RawFrontend.Version | RawFrontend.NeedReply, [], theirs));
        }
        SetRings(client, Table((RingGuest, RingUser, rings)), [rings.Descriptor], kick0, kick1);
        Enable(client);

        // The front-end refuses the mapping (a non-zero u64, as QEMU answers a map it cannot place).
        AcknowledgeMap(backendChannel, 1 << 16, status: 1);
        await WaitUntil(() => Volatile.Read(ref starts) == 1);
        await WaitUntil(() => backend.RefusedSharedMemoryMaps == 1);
        lock (log)
        {
            Assert.IsTrue(log.Any(line => line.Contains("SHMEM_MAP of region 0 refused", StringComparison.Ordinal)), string.Join(" | ", log));
        }
        Assert.AreEqual(2UL, client.CallU64(17 /* GET_QUEUE_NUM */, RawFrontend.Version, []), "the connection still serves");
        client.Channel.Shutdown();
        await serving.WaitAsync(Patience);
    }

    [TestMethod]
    [DataRow(0UL, true, DisplayName = "back-end without a region")]
    [DataRow(1UL << 16, false, DisplayName = "front-end without SHMEM (QEMU 10.2)")]
    public async Task Without_a_shared_memory_region_the_device_sees_one_of_length_0(ulong sharedMemorySize, bool offersNothing)
    {
        var transports = new System.Collections.Concurrent.ConcurrentQueue<IDeviceTransport>();
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions { Config = new byte[40], SharedMemorySize = sharedMemorySize },
            async (transport, token) =>
            {
                transports.Enqueue(transport);
                await Task.Delay(Timeout.Infinite, token).ContinueWith(_ => { }, TaskScheduler.Default);
            });
        var (channel, server) = VhostUserChannel.CreatePair();
        var serving = backend.ServeConnectionAsync(server, CancellationToken.None);
        using var rings = MemoryFile.Create("rings", 1 << 16);
        using var client = new RawFrontend(channel);
        using var kick0 = EventFd.Create();
        using var kick1 = EventFd.Create();

        var offered = client.CallU64(GetProtocolFeatures, RawFrontend.Version, []);
        Assert.AreEqual(offersNothing, (offered & Shmem) == 0, $"protocol features 0x{offered:X}");
        client.Send(SetProtocolFeatures, RawFrontend.Version, RawFrontend.U64(ReplyAck));
        SetRings(client, Table((RingGuest, RingUser, rings)), [rings.Descriptor], kick0, kick1);
        for (var start = 0; start < 2; start++)
        {
            Enable(client);
            await WaitUntil(() => transports.Count == start + 1);
            var region = transports.Last().SharedMemory;
            Assert.AreEqual(0UL, region.Length);
            Assert.IsFalse(region.TryGetSpan(0, 0, out _), "a region of length 0 refuses even an empty access");
            Assert.IsFalse(region.TryGetSpan(0, 1, out _));
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => region.GetSpan(0, 1));
            Assert.AreEqual(0UL, client.CallU64(SetVringEnable, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.State(0, 0)));
        }
        // Both starts share one empty region: nothing is allocated per start.
        Assert.AreSame(transports.First().SharedMemory, transports.Last().SharedMemory);
        // GET_SHMEM_CONFIG without SHMEM negotiated: it has a reply of its own, so it cannot be refused
        // with an ack; the connection ends.
        client.Send(GetShmemConfig, RawFrontend.Version | RawFrontend.NeedReply, []);
        Assert.IsTrue(client.Closed());
        await serving.WaitAsync(Patience);
    }

    [TestMethod]
    public void An_in_process_transport_without_shared_memory_has_a_region_of_length_0_on_both_sides()
    {
        using var transport = new InProcessTransport(sharedMemorySize: 0);
        Assert.AreEqual(0UL, transport.SharedMemory.Length);
        Assert.AreEqual(0UL, transport.Driver.SharedMemory.Length);
        Assert.AreEqual(IntPtr.Zero, transport.SharedMemory.Host);
        Assert.IsFalse(transport.SharedMemory.TryGetSpan(0, 0, out _));
        Assert.AreEqual(0UL, SharedMemoryRegion.Allocate(0, 0).Length);
    }

    private static void NegotiateAndSetRings(RawFrontend client, ulong protocol, byte[] table, UnixFileDescriptor[] files, UnixFileDescriptor kick0, UnixFileDescriptor kick1)
    {
        client.Send(SetProtocolFeatures, RawFrontend.Version, RawFrontend.U64(protocol));
        SetRings(client, table, files, kick0, kick1);
    }

    /// <summary>Memory table, then per ring (as QEMU does) size 16, address, kick.</summary>
    private static void SetRings(RawFrontend client, byte[] table, UnixFileDescriptor[] files, UnixFileDescriptor kick0, UnixFileDescriptor kick1)
    {
        Assert.AreEqual(0UL, client.CallU64(SetMemTable, RawFrontend.Version | RawFrontend.NeedReply, table, files));
        foreach (var (index, kick) in new[] { (0u, kick0), (1u, kick1) })
        {
            var ring = RingUser + index * 0x4000;
            Assert.AreEqual(0UL, client.CallU64(SetVringNum, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.State(index, 16)));
            var address = new byte[40];
            BinaryPrimitives.WriteUInt32LittleEndian(address, index);
            BinaryPrimitives.WriteUInt64LittleEndian(address.AsSpan(8), ring);
            BinaryPrimitives.WriteUInt64LittleEndian(address.AsSpan(16), ring + 0x2000);
            BinaryPrimitives.WriteUInt64LittleEndian(address.AsSpan(24), ring + 0x1000);
            Assert.AreEqual(0UL, client.CallU64(SetVringAddr, RawFrontend.Version | RawFrontend.NeedReply, address));
            Assert.AreEqual(0UL, client.CallU64(SetVringKick, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.U64(index), kick));
        }
    }

    private static void Enable(RawFrontend client)
    {
        for (uint i = 0; i < 2; i++)
        {
            Assert.AreEqual(0UL, client.CallU64(SetVringEnable, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.State(i, 1)));
        }
    }

    private static byte[] Table(params (ulong Guest, ulong User, MemoryFile File)[] regions)
    {
        var table = new byte[8 + 32 * regions.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(table, (uint)regions.Length);
        for (var i = 0; i < regions.Length; i++)
        {
            var region = table.AsSpan(8 + 32 * i);
            BinaryPrimitives.WriteUInt64LittleEndian(region, regions[i].Guest);
            BinaryPrimitives.WriteUInt64LittleEndian(region.Slice(8), regions[i].File.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(region.Slice(16), regions[i].User);
        }
        return table;
    }

    /// <summary>Receives SHMEM_MAP of all of region 0 (need_reply, one descriptor, read-write) and acknowledges it.</summary>
    private static void AcknowledgeMap(VhostUserChannel backendChannel, ulong length, ulong status = 0)
    {
        using var map = backendChannel.Receive(Patience) ?? throw new AssertFailedException("the back-end channel closed");
        Assert.AreEqual(ShmemMap, map.Request);
        Assert.AreEqual(RawFrontend.Version | RawFrontend.NeedReply, map.Flags);
        Assert.AreEqual(1, map.FileDescriptorCount);
        var expected = new byte[40];
        BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(24), length);
        BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(32), 1);
        CollectionAssert.AreEqual(expected, map.Payload, "shmid 0, fd_offset 0, shm_offset 0, len, flags read-write");
        backendChannel.SendRaw(RawFrontend.Message(ShmemMap, RawFrontend.Version | RawFrontend.Reply, RawFrontend.U64(status)));
    }

    /// <summary>True when nothing arrives on <paramref name="channel"/> for half a second.</summary>
    private static bool Silent(VhostUserChannel channel)
    {
        try
        {
            using var message = channel.Receive(TimeSpan.FromMilliseconds(500));
            return false;
        }
        catch (TimeoutException)
        {
            return true;
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.IsTrue(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(10);
        }
    }

    /// <summary>Whether a mapping of this process starts at <paramref name="address"/> (/proc/self/maps).</summary>
    private static bool IsMapped(IntPtr address)
    {
        var start = ((ulong)address).ToString("x", CultureInfo.InvariantCulture) + "-";
        return File.ReadLines("/proc/self/maps").Any(line => line.StartsWith(start, StringComparison.Ordinal));
    }
}
