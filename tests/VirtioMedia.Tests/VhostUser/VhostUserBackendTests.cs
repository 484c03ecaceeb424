using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Tests.VhostUser;

[TestClass]
public sealed class VhostUserBackendTests
{
    // Request ids and bits as written in QEMU's docs/interop/vhost-user.rst ("Front-end message types",
    // "Protocol features"), typed here rather than taken from the library.
    private const uint GetFeatures = 1, SetFeatures = 2, SetOwner = 3, SetMemTable = 5, SetVringNum = 8, SetVringAddr = 9,
        SetVringBase = 10, GetVringBase = 11, SetVringKick = 12, SetVringCall = 13, GetProtocolFeatures = 15,
        SetProtocolFeatures = 16, GetQueueNum = 17, SetVringEnable = 18, GetConfig = 24, SetConfig = 25, GetShmemConfig = 44;

    private const ulong ReplyAckBit = 1UL << 3;
    private static readonly byte[] Config = CreateConfig();

    private static byte[] CreateConfig()
    {
        var config = new byte[40];
        for (var i = 0; i < config.Length; i++)
        {
            config[i] = (byte)(0xA0 + i);
        }
        return config;
    }

    private static VhostUserBackendOptions Options(List<string>? log = null) => new()
    {
        Config = Config,
        SharedMemorySize = 1 << 20,
        StopTimeout = TimeSpan.FromSeconds(2),
        ReplyTimeout = TimeSpan.FromSeconds(2),
        Log = log is null ? null : line => { lock (log) { log.Add(line); } },
    };

    private static (RawFrontend Client, Task Serving) Connect(VhostUserBackend backend, CancellationToken token = default)
    {
        var (client, server) = VhostUserChannel.CreatePair();
        server.MessageCompletionTimeout = TimeSpan.FromMilliseconds(300);
        return (new RawFrontend(client), backend.ServeConnectionAsync(server, token));
    }

    private static VhostUserBackend Backend(Func<IDeviceTransport, CancellationToken, Task>? serve = null, List<string>? log = null) =>
        new(Options(log), serve ?? ((_, token) => Task.Delay(Timeout.Infinite, token).ContinueWith(_ => { }, TaskScheduler.Default)));

    [TestMethod]
    public async Task Every_handled_message_gets_its_reply_or_ack()
    {
        var (client, serving) = Connect(Backend());
        using (client)
        {
            var features = client.CallU64(GetFeatures, RawFrontend.Version, []);
            Assert.AreEqual((1UL << 32) | (1UL << 30) | (1UL << 29), features, "VERSION_1, PROTOCOL_FEATURES, EVENT_IDX");
            var protocol = client.CallU64(GetProtocolFeatures, RawFrontend.Version, []);
            // MQ 0, REPLY_ACK 3, BACKEND_REQ 5, CONFIG 9, BACKEND_SEND_FD 10, SHMEM 22 (QEMU 11's
            // vhost-user.rst); 20 is GET_VRING_BASE_INFLIGHT and 21 GPA_ADDRESSES, neither offered.
            Assert.AreEqual((1UL << 0) | (1UL << 3) | (1UL << 5) | (1UL << 9) | (1UL << 10) | (1UL << 22), protocol);

            // Before REPLY_ACK is negotiated need_reply is ignored: SET_PROTOCOL_FEATURES has no reply...
            client.Send(SetProtocolFeatures, RawFrontend.Version, RawFrontend.U64(protocol));
            // ...after it, every request with need_reply gets a u64 0 on success.
            Assert.AreEqual(0UL, client.CallU64(SetOwner, RawFrontend.Version | RawFrontend.NeedReply, []));
            Assert.AreEqual(0UL, client.CallU64(SetFeatures, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.U64((1UL << 32) | (1UL << 30))));
            Assert.AreEqual(2UL, client.CallU64(GetQueueNum, RawFrontend.Version, []));

            // GET_CONFIG echoes offset, size and flags, then the bytes of the config space.
            var request = new byte[12 + 8];
            BinaryPrimitives.WriteUInt32LittleEndian(request, 4);
            BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(4), 8);
            var config = client.Call(GetConfig, RawFrontend.Version, request);
            Assert.AreEqual(20, config.Length);
            Assert.AreEqual(4u, BinaryPrimitives.ReadUInt32LittleEndian(config));
            Assert.AreEqual(8u, BinaryPrimitives.ReadUInt32LittleEndian(config.AsSpan(4)));
            CollectionAssert.AreEqual(Config[4..12], config[12..]);
            // Beyond the 40 bytes: "zero length of payload to indicate an error".
            BinaryPrimitives.WriteUInt32LittleEndian(request, 36);
            Assert.AreEqual(0, client.Call(GetConfig, RawFrontend.Version, request).Length);
            // SET_CONFIG on the read-only space is refused with a non-zero ack; the connection lives on.
            Assert.AreNotEqual(0UL, client.CallU64(SetConfig, RawFrontend.Version | RawFrontend.NeedReply, request));

            // GET_SHMEM_CONFIG: 1 region, region 0 of 1 MiB, 256 sizes in all.
            var shmem = client.Call(GetShmemConfig, RawFrontend.Version, []);
            Assert.AreEqual(8 + 256 * 8, shmem.Length);
            Assert.AreEqual(1u, BinaryPrimitives.ReadUInt32LittleEndian(shmem));
            Assert.AreEqual(1UL << 20, BinaryPrimitives.ReadUInt64LittleEndian(shmem.AsSpan(8)));
            Assert.AreEqual(0UL, BinaryPrimitives.ReadUInt64LittleEndian(shmem.AsSpan(16)));

            // Vring messages: a bad size is refused, a good one acked; the base set is the base returned.
            Assert.AreNotEqual(0UL, client.CallU64(SetVringNum, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.State(0, 3)));
            Assert.AreNotEqual(0UL, client.CallU64(SetVringNum, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.State(2, 64)));
            Assert.AreEqual(0UL, client.CallU64(SetVringNum, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.State(1, 64)));
            Assert.AreEqual(0UL, client.CallU64(SetVringBase, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.State(1, 77)));
            Assert.AreNotEqual(0UL, client.CallU64(SetVringBase, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.State(1, 0x10000)));
            var state = client.Call(GetVringBase, RawFrontend.Version, RawFrontend.State(1, 0));
            CollectionAssert.AreEqual(RawFrontend.State(1, 77), state);
            Assert.AreEqual(0UL, client.CallU64(SetVringEnable, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.State(0, 1)));
            Assert.AreNotEqual(0UL, client.CallU64(SetVringEnable, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.State(0, 2)));

            // Kick and call descriptors: an eventfd with the vring index; the invalid-FD flag (bit 8) means none.
            using var call = EventFd.Create();
            Assert.AreEqual(0UL, client.CallU64(SetVringCall, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.U64(0), call));
            Assert.AreEqual(0UL, client.CallU64(SetVringCall, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.U64(0x100)));
            Assert.AreNotEqual(0UL, client.CallU64(SetVringCall, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.U64(0)), "no descriptor without the flag");
            using var kick = EventFd.Create();
            Assert.AreEqual(0UL, client.CallU64(SetVringKick, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.U64(1), kick));
            Assert.AreNotEqual(0UL, client.CallU64(SetVringKick, RawFrontend.Version | RawFrontend.NeedReply, RawFrontend.U64(0x100)), "polling is not offered");

            // Memory table: one memfd region; ring addresses are user addresses inside it.
            using var memory = MemoryFile.Create("test", 1 << 16);
            var table = MemoryTable(0x10000, memory.Length, 0x7000_0000, 0);
            Assert.AreEqual(0UL, client.CallU64(SetMemTable, RawFrontend.Version | RawFrontend.NeedReply, table, memory.Descriptor));
            Assert.AreNotEqual(0UL, client.CallU64(SetMemTable, RawFrontend.Version | RawFrontend.NeedReply, table), "no descriptor for the region");
            Assert.AreEqual(0UL, client.CallU64(SetVringAddr, RawFrontend.Version | RawFrontend.NeedReply, VringAddress(0, 0x7000_0000, 0x7000_2000, 0x7000_1000)));
            Assert.AreNotEqual(0UL, client.CallU64(SetVringAddr, RawFrontend.Version | RawFrontend.NeedReply, VringAddress(0, 0x1000, 0x2000, 0x3000)), "outside the table");

            // Unknown requests are refused, not fatal, when an ack was asked for.
            Assert.AreNotEqual(0UL, client.CallU64(99, RawFrontend.Version | RawFrontend.NeedReply, []));
            Assert.AreEqual(2UL, client.CallU64(GetQueueNum, RawFrontend.Version, []), "still serving");
        }
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
    }

    internal static byte[] MemoryTable(ulong guest, ulong size, ulong user, ulong offset)
    {
        var table = new byte[8 + 32];
        BinaryPrimitives.WriteUInt32LittleEndian(table, 1);
        BinaryPrimitives.WriteUInt64LittleEndian(table.AsSpan(8), guest);
        BinaryPrimitives.WriteUInt64LittleEndian(table.AsSpan(16), size);
        BinaryPrimitives.WriteUInt64LittleEndian(table.AsSpan(24), user);
        BinaryPrimitives.WriteUInt64LittleEndian(table.AsSpan(32), offset);
        return table;
    }

    private static byte[] VringAddress(uint index, ulong descriptor, ulong used, ulong available)
    {
        var bytes = new byte[40];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, index);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), descriptor);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), used);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(24), available);
        return bytes;
    }

    private static void NegotiateReplyAck(RawFrontend client) =>
        client.Send(SetProtocolFeatures, RawFrontend.Version, RawFrontend.U64(ReplyAckBit));

    [TestMethod]
    public async Task A_malformed_payload_is_refused_with_an_ack_or_ends_the_connection()
    {
        var backend = Backend();
        var (client, serving) = Connect(backend);
        using (client)
        {
            NegotiateReplyAck(client);
            // A 4-byte u64 with need_reply: refused, connection kept.
            client.Send(SetFeatures, RawFrontend.Version | RawFrontend.NeedReply, new byte[4]);
            using (var ack = client.Receive())
            {
                Assert.IsNotNull(ack);
                Assert.AreEqual(SetFeatures, ack.Request);
                Assert.AreNotEqual(0UL, BinaryPrimitives.ReadUInt64LittleEndian(ack.Payload));
            }
            // The same without need_reply: the front-end could not learn of the failure, so the back-end hangs up.
            client.Send(SetFeatures, RawFrontend.Version, new byte[4]);
            Assert.IsTrue(client.Closed());
        }
        await serving.WaitAsync(TimeSpan.FromSeconds(5));

        // A truncated GET_VRING_BASE (its reply cannot say "error") ends the connection.
        (client, serving) = Connect(backend);
        using (client)
        {
            client.Send(GetVringBase, RawFrontend.Version, new byte[5]);
            Assert.IsTrue(client.Closed());
        }
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [TestMethod]
    [DataRow("wrong version")]
    [DataRow("reply flag on a request")]
    [DataRow("oversized payload")]
    [DataRow("truncated header")]
    [DataRow("truncated payload")]
    [DataRow("too many descriptors")]
    public async Task A_broken_frame_ends_the_connection_and_the_backend_survives(string breakage)
    {
        var log = new List<string>();
        var backend = Backend(log: log);
        var (client, serving) = Connect(backend);
        var fds = new List<UnixFileDescriptor>();
        using (client)
        {
            switch (breakage)
            {
                case "wrong version":
                    client.Channel.SendRaw(RawFrontend.Message(GetFeatures, 0x2, []));
                    break;
                case "reply flag on a request":
                    client.Channel.SendRaw(RawFrontend.Message(GetFeatures, RawFrontend.Version | RawFrontend.Reply, []));
                    break;
                case "oversized payload":
                    // A size field of 1 GiB must be refused before anything is allocated or read.
                    client.Channel.SendRaw(RawFrontend.Message(SetMemTable, RawFrontend.Version, [], size: 1u << 30));
                    break;
                case "truncated header":
                    client.Channel.SendRaw(RawFrontend.Message(GetFeatures, RawFrontend.Version, [])[..7]);
                    break;
                case "truncated payload":
                    client.Channel.SendRaw(RawFrontend.Message(SetFeatures, RawFrontend.Version, RawFrontend.U64(0), size: 16));
                    break;
                case "too many descriptors":
                    for (var i = 0; i < 9; i++)
                    {
                        fds.Add(EventFd.Create());
                    }
                    client.Channel.SendRaw(RawFrontend.Message(SetOwner, RawFrontend.Version, []), fds.ToArray());
                    break;
            }
            Assert.IsTrue(client.Closed(), breakage);
        }
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
        foreach (var fd in fds)
        {
            fd.Dispose();
        }
        lock (log)
        {
            Assert.IsTrue(log.Exists(line => line.StartsWith("connection dropped", StringComparison.Ordinal)), string.Join("\n", log));
        }

        // The same back-end serves the next front-end.
        (client, serving) = Connect(backend);
        using (client)
        {
            Assert.AreEqual(2UL, client.CallU64(GetQueueNum, RawFrontend.Version, []));
        }
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [TestMethod]
    public void A_memfd_passed_over_the_socket_shows_the_same_bytes_on_both_sides()
    {
        var (sender, receiver) = VhostUserChannel.CreatePair();
        using (sender)
        using (receiver)
        using (var file = MemoryFile.Create("shared", 8192))
        {
            file.Mapping.Span[4100] = 0x5A;
            sender.Send(SetMemTable, 1, [1, 2, 3], [file.Descriptor]);
            using var message = receiver.Receive(TimeSpan.FromSeconds(5));
            Assert.IsNotNull(message);
            Assert.AreEqual(SetMemTable, message.Request);
            CollectionAssert.AreEqual(new byte[] { 1, 2, 3 }, message.Payload);
            Assert.AreEqual(1, message.FileDescriptorCount);
            using var received = message.TakeFileDescriptor(0)!;
            Assert.AreNotEqual(file.Descriptor.Value, received.Value, "a new descriptor in the receiving process");
            using var mapping = MemoryMapping.Map(received, 0, 8192);
            Assert.AreEqual(0x5A, mapping.Span[4100]);
            mapping.Span[12] = 0xC3;
            Assert.AreEqual(0xC3, file.Mapping.Span[12]);
            // Mapping past the end of the file is refused instead of faulting later.
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MemoryMapping.Map(received, 4096, 8192));
        }
    }

    [TestMethod]
    public void A_mapped_memfd_cannot_be_truncated_under_the_mapping()
    {
        using var file = MemoryFile.Create("sealed", 8192);
        using var duplicate = new UnixFileDescriptor(DuplicateOf(file.Descriptor));
        using var mapping = MemoryMapping.Map(duplicate, 0, 8192);
        Assert.IsTrue(MemoryMapping.IsSealedAgainstShrinking(file.Descriptor), "mapping seals the file, for every holder of it");
        // The other process (here: the creator's descriptor) can no longer shrink it, so the mapping cannot fault.
        Assert.AreEqual(-1, Ftruncate(file.Descriptor.Value, 4096));
        Assert.AreEqual(1 /* EPERM */, Marshal.GetLastPInvokeError());
        mapping.Span[8191] = 1;

        // A file that takes no seals is still mapped.
        var path = Path.Combine(Path.GetTempPath(), "vm-unsealable-" + Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(path, new byte[4096]);
        try
        {
            var raw = Open(path, 2 /* O_RDWR */);
            Assert.IsTrue(raw >= 0);
            using var regular = new UnixFileDescriptor(raw);
            using var regularMapping = MemoryMapping.Map(regular, 0, 4096);
            Assert.IsFalse(MemoryMapping.IsSealedAgainstShrinking(regular));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [DllImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static extern int Ftruncate(int fd, long length);

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open(string path, int flags);

    [TestMethod]
    public async Task An_eventfd_doorbell_coalesces_and_a_wait_can_be_cancelled()
    {
        var fd = EventFd.Create();
        using var source = new EventFdNotificationSource(fd);
        // The notifier writes to the same eventfd the source watches, as the other process would.
        using var notifier = new EventFdNotifier(new UnixFileDescriptor(DuplicateOf(fd)));
        notifier.Notify();
        notifier.Notify();
        notifier.Notify();
        // Time for the watcher to read all three: a kick it reads after the first wait has woken counts
        // for the next wait, which is right, but not what this test is about.
        await Task.Delay(100);
        await source.WaitAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        using var quiet = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAsync<OperationCanceledException>(async () => await source.WaitAsync(quiet.Token));
        notifier.Notify();
        await source.WaitAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
    }

    private static int DuplicateOf(UnixFileDescriptor fd)
    {
        // Pass the descriptor through a socket pair: the receiving end gets its own copy.
        var (a, b) = VhostUserChannel.CreatePair();
        using (a)
        using (b)
        {
            a.Send(SetOwner, 1, [], [fd]);
            using var message = b.Receive(TimeSpan.FromSeconds(5))!;
            var copy = message.TakeFileDescriptor(0)!;
            var value = copy.Value;
            copy.SetHandleAsInvalid(); // ownership moves to the caller's new wrapper
            return value;
        }
    }

    [TestMethod]
    public async Task A_frontend_leaving_mid_setup_leaves_the_backend_accepting()
    {
        var directory = Directory.CreateTempSubdirectory("vhost-user-");
        var path = Path.Combine(directory.FullName, "media.sock");
        var started = new TaskCompletionSource<IDeviceTransport>(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = Backend((transport, token) =>
        {
            started.TrySetResult(transport);
            return Task.Delay(Timeout.Infinite, token).ContinueWith(_ => { }, TaskScheduler.Default);
        });
        using var stop = new CancellationTokenSource();
        var running = backend.RunAsync(path, stop.Token);
        try
        {
            await WaitForSocket(path);
            using (var first = new RawFrontend(VhostUserChannel.Connect(path)))
            using (var memory = MemoryFile.Create("first", 1 << 16))
            {
                Assert.AreNotEqual(0UL, first.CallU64(GetFeatures, RawFrontend.Version, []));
                first.Send(SetMemTable, RawFrontend.Version, MemoryTable(0, memory.Length, 0x1000_0000, 0), memory.Descriptor);
                first.Send(SetVringNum, RawFrontend.Version, RawFrontend.State(0, 64));
            }
            using var second = await VhostUserFrontend.ConnectAsync(path, new VhostUserFrontendOptions { MemorySize = 1 << 20 }, CancellationToken.None)
                .WaitAsync(TimeSpan.FromSeconds(10));
            var transport = await started.Task.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.AreEqual(256, transport.CommandQueue.Layout.Size);
            CollectionAssert.AreEqual(Config, second.ConfigBytes.ToArray());
        }
        finally
        {
            stop.Cancel();
            await running.WaitAsync(TimeSpan.FromSeconds(10));
            directory.Delete(recursive: true);
        }
    }

    private static async Task WaitForSocket(string path)
    {
        for (var i = 0; i < 100 && !File.Exists(path); i++)
        {
            await Task.Delay(20);
        }
    }
}
