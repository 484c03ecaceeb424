using System;
using System.Buffers.Binary;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// A driver that sends garbage: the device endpoint answers every malformed, truncated or meaningless command with an
/// errno (or returns the chain empty when there is no room for an answer), never throws, never hangs, and keeps
/// serving a well-behaved session meanwhile. Commands are written byte by byte from the layouts in
/// virtio_media.h, through a <see cref="RawDriver"/>.
/// </summary>
[TestClass]
public sealed class HostileDriverTests
{
    private const int RespHeader = 8;

    [TestMethod]
    public Task Truncated_commands_are_answered_with_an_errno() => Streamer.Guard(async () =>
    {
        await using var bench = await Bench.StartAsync();
        var session = await bench.OpenAsync();
        var commands = new (string Name, byte[] Bytes)[]
        {
            ("CLOSE", Close(session)[..12]), // session_id is the last field read; the reserved word may be missing
            ("IOCTL G_FMT", GFmt(session)),
            ("MMAP", Mmap(session, 0)),
            ("MUNMAP", Munmap(0x1000)),
        };
        foreach (var (name, bytes) in commands)
        {
            for (var length = 0; length < bytes.Length; length++)
            {
                var answer = await bench.Driver.SendAsync(bytes.AsMemory(0, length), 256);
                Assert.AreEqual(RespHeader, answer.Length, $"{name} cut at {length} bytes: a header-only answer");
                // A command struct cut short is malformed (EINVAL); an ioctl whose payload
                // is cut short is answered EFAULT by the decoder, as Linux answers a copy from a short user buffer.
                var expected = name.StartsWith("IOCTL", StringComparison.Ordinal) && length >= 16 ? Constants.EFAULT : Constants.EINVAL;
                Assert.AreEqual((uint)expected, Status(answer), $"{name} cut at {length} bytes");
            }
        }
        await bench.AssertServesAsync(session);
        Assert.AreEqual(1, bench.Device.SessionCount, "no truncated command opened or closed anything");
    });

    [TestMethod]
    public Task Unknown_command_codes_are_answered_EINVAL() => Streamer.Guard(async () =>
    {
        await using var bench = await Bench.StartAsync();
        foreach (var code in new uint[] { 0, 6, 7, 99, 0x8000_0000, uint.MaxValue })
        {
            var command = new byte[24];
            BinaryPrimitives.WriteUInt32LittleEndian(command, code);
            var answer = await bench.Driver.SendAsync(command, 64);
            Assert.AreEqual((uint)Constants.EINVAL, Status(answer), $"command code {code}");
        }
        Assert.AreEqual(0, bench.Device.SessionCount);
    });

    [TestMethod]
    public Task Commands_for_unknown_or_closed_sessions_are_answered_ENOENT() => Streamer.Guard(async () =>
    {
        await using var bench = await Bench.StartAsync();
        foreach (var command in new[] { Close(999), GFmt(999), Mmap(999, 0) })
        {
            Assert.AreEqual((uint)Constants.ENOENT, Status(await bench.Driver.SendAsync(command, 256)));
        }
        var closed = await bench.OpenAsync();
        Assert.AreEqual(0u, Status(await bench.Driver.SendAsync(Close(closed), 8)));
        foreach (var command in new[] { GFmt(closed), Mmap(closed, 0), Close(closed) })
        {
            Assert.AreEqual((uint)Constants.ENOENT, Status(await bench.Driver.SendAsync(command, 256)));
        }
        Assert.AreEqual(6L, bench.Device.UnknownSessionCommands);
        Assert.AreEqual(0, bench.Device.SessionCount);
    });

    [TestMethod]
    public Task Ioctls_with_huge_counts_or_unknown_codes_are_refused() => Streamer.Guard(async () =>
    {
        await using var bench = await Bench.StartAsync();
        var session = await bench.OpenAsync();

        // A multi-planar QBUF claiming 2^32 - 1 planes, and S_EXT_CTRLS claiming 2^32 - 1 controls: the device must not
        // believe the count (nor allocate for it).
        var qbuf = new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, memory = Constants.V4L2_MEMORY_MMAP, length = uint.MaxValue };
        var controls = new v4l2_ext_controls { count = uint.MaxValue };
        foreach (var request in new[] { Ioctl(session, Ioctls.VIDIOC_QBUF.Descriptor, qbuf), Ioctl(session, Ioctls.VIDIOC_S_EXT_CTRLS.Descriptor, controls) })
        {
            var status = Status(await bench.Driver.SendAsync(request, 4096));
            Assert.IsTrue(status is >= 1 and <= 4095, $"errno {status}");
        }
        // Codes that are no ioctl at all: ENOTTY, as for an unsupported one.
        foreach (var code in new uint[] { 0xFF, 0x7FFF_FFFF, uint.MaxValue })
        {
            var command = new byte[16 + 64];
            BinaryPrimitives.WriteUInt32LittleEndian(command, (uint)Constants.VIRTIO_MEDIA_CMD_IOCTL);
            BinaryPrimitives.WriteUInt32LittleEndian(command.AsSpan(8), session);
            BinaryPrimitives.WriteUInt32LittleEndian(command.AsSpan(12), code);
            Assert.AreEqual((uint)Constants.ENOTTY, Status(await bench.Driver.SendAsync(command, 256)), $"code 0x{code:X}");
        }
        Assert.AreEqual(0L, bench.Device.HandlerFaults);
        await bench.AssertServesAsync(session);
    });

    [TestMethod]
    public Task MMAP_of_an_unknown_offset_and_MUNMAP_of_an_unmapped_address_are_EINVAL() => Streamer.Guard(async () =>
    {
        await using var bench = await Bench.StartAsync();
        var session = await bench.OpenAsync();
        foreach (var offset in new uint[] { 0, 0x1000, 0x1234_5678, uint.MaxValue })
        {
            Assert.AreEqual((uint)Constants.EINVAL, Status(await bench.Driver.SendAsync(Mmap(session, offset), 24)), $"offset 0x{offset:X}");
        }
        foreach (var address in new ulong[] { 0, 0x1000, ulong.MaxValue })
        {
            Assert.AreEqual((uint)Constants.EINVAL, Status(await bench.Driver.SendAsync(Munmap(address), 8)), $"address 0x{address:X}");
        }
        await bench.AssertServesAsync(session);
    });

    [TestMethod]
    public Task Chains_without_room_for_an_answer_come_back_empty() => Streamer.Guard(async () =>
    {
        await using var bench = await Bench.StartAsync();
        var open = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(open, (uint)Constants.VIRTIO_MEDIA_CMD_OPEN);
        foreach (var room in new[] { 0, 4, 8, 12 })
        {
            var answer = await bench.Driver.SendAsync(open, room);
            Assert.IsTrue(answer.Length <= room);
        }
        Assert.AreEqual(0, bench.Device.SessionCount, "a session whose id the driver could not learn is not kept");
        var session = await bench.OpenAsync();
        foreach (var room in new[] { 0, 4 })
        {
            Assert.AreEqual(0, (await bench.Driver.SendAsync(GFmt(session), room)).Length, $"{room} writable bytes");
        }
        await bench.AssertServesAsync(session);
    });

    [TestMethod]
    public Task An_event_buffer_too_small_comes_back_empty_and_the_event_is_dropped() => Streamer.Guard(async () =>
    {
        await using var bench = await Bench.StartAsync();
        var id = await bench.OpenAsync();
        Assert.IsTrue(bench.Device.TryGetSession(id, out var session));
        var events = bench.Driver.Events;

        SupplyEventBuffer(bench, token: 1, length: 8);
        Assert.IsTrue(session.EmitDqbuf(new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, index = 5 }));
        var (token, written) = await TakeUsedAsync(events);
        Assert.AreEqual((1, 0u), (token, written), "the small buffer is returned unwritten");
        Assert.AreEqual(1L, bench.Device.DroppedEvents);

        SupplyEventBuffer(bench, token: 2, length: 640);
        Assert.IsTrue(session.EmitDqbuf(new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, index = 6 }));
        (token, written) = await TakeUsedAsync(events);
        Assert.AreEqual((2, (uint)Unsafe.SizeOf<virtio_media_event_dqbuf>()), (token, written));
        var dqbuf = MemoryMarshal.Read<virtio_media_event_dqbuf>(bench.Transport.Memory.GetSpan(bench.Driver.EventArea, written));
        Assert.AreEqual((uint)Constants.VIRTIO_MEDIA_EVT_DQBUF, dqbuf.hdr.@event);
        Assert.AreEqual(id, dqbuf.hdr.session_id);
        Assert.AreEqual(6u, dqbuf.buffer.index, "the next event is delivered whole");
    });

    [TestMethod]
    public Task Fuzzed_chains_never_break_the_device_nor_a_well_behaved_session() => Streamer.Guard(async () =>
    {
        // About a fifth of the chains are OPENs that are never closed: room for all of them, so a fresh OPEN at the end
        // still succeeds (the cap itself is SessionBoundsTests').
        await using var bench = await Bench.StartAsync(new DeviceEndpointOptions { MaxSessions = 4096 });
        var good = await bench.OpenAsync();
        using var stop = new CancellationTokenSource();
        var served = 0;
        var wellBehaved = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await bench.AssertServesAsync(good, width: (uint)(16 + served % 200));
                served++;
            }
        });

        const int Chains = 3000;
        var answered = 0;
        var fuzzers = Enumerable.Range(0, 4).Select(worker => Task.Run(async () =>
        {
            var random = new Random(4000 + worker);
            for (var i = 0; i < Chains / 4; i++)
            {
                var (request, room) = RandomChain(random, good);
                var answer = await bench.Driver.SendAsync(request, room, random.Next(1, 5), random.Next(1, 4));
                Assert.IsTrue(answer.Length <= room);
                if (answer.Length >= 4)
                {
                    Assert.IsTrue(Status(answer) <= 4095, $"status {Status(answer)} is no errno");
                }
                Interlocked.Increment(ref answered);
            }
        })).ToArray();
        await Task.WhenAll(fuzzers);
        await stop.CancelAsync();
        await wellBehaved;

        Assert.AreEqual(Chains, answered, "every chain came back");
        Assert.IsTrue(served > 0);
        Assert.AreEqual(0L, bench.Device.HandlerFaults);
        Assert.IsTrue(bench.Device.TryGetSession(good, out var session) && session.State == DeviceSessionState.Open, "the good session was never touched");
        await bench.AssertServesAsync(good);
        var fresh = await bench.OpenAsync();
        await bench.AssertServesAsync(fresh);
    }, seconds: 120);

    /// <summary>
    /// A random chain: mostly a plausible command (a known code, a session id that may or may not exist, never the good
    /// session's, a random body of random length), sometimes pure noise; and a random amount of writable room.
    /// </summary>
    private static (byte[] Request, int Room) RandomChain(Random random, uint goodSession)
    {
        var request = new byte[random.Next(0, 600)];
        random.NextBytes(request);
        if (request.Length >= 4 && random.Next(5) != 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)random.Next(1, 6));
            if (request.Length >= 12)
            {
                var session = random.Next(3) == 0 ? (uint)random.Next() : (uint)random.Next(1, 8);
                BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(8), session == goodSession ? session + 1000 : session);
            }
            if (request.Length >= 16 && random.Next(2) == 0)
            {
                // A real ioctl code, so the body reaches the ioctl decoder and the handler.
                var ioctls = Ioctls.All;
                BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(12), (uint)ioctls[random.Next(ioctls.Count)].Number);
            }
        }
        var room = random.Next(4) == 0 ? random.Next(0, 16) : random.Next(0, 1200);
        return (request, room);
    }

    private static void SupplyEventBuffer(Bench bench, int token, uint length)
    {
        ReadOnlySpan<ChainSegment> write = [new ChainSegment(bench.Driver.EventArea, length)];
        Assert.IsTrue(bench.Driver.Events.TryAdd(ReadOnlySpan<ChainSegment>.Empty, write, token, out var kick));
        if (kick)
        {
            bench.Transport.Driver.EventKickToDevice.Notify();
        }
    }

    private static async Task<(int Token, uint Written)> TakeUsedAsync(DriverQueue<int> queue)
    {
        var (token, written) = (0, 0u);
        await Streamer.SpinUntil(() => queue.TryTakeUsed(out token, out written));
        return (token, written);
    }

    private static uint Status(byte[] answer) => answer.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(answer) : uint.MaxValue;

    private static byte[] Header(int command, int length)
    {
        var bytes = new byte[length];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)command);
        return bytes;
    }

    private static byte[] Close(uint session)
    {
        var bytes = Header(Constants.VIRTIO_MEDIA_CMD_CLOSE, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), session);
        return bytes;
    }

    private static byte[] Mmap(uint session, uint offset)
    {
        var bytes = Header(Constants.VIRTIO_MEDIA_CMD_MMAP, 20);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), session);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), (uint)Constants.VIRTIO_MEDIA_MMAP_FLAG_RW);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), offset);
        return bytes;
    }

    private static byte[] Munmap(ulong address)
    {
        var bytes = Header(Constants.VIRTIO_MEDIA_CMD_MUNMAP, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), address);
        return bytes;
    }

    private static byte[] GFmt(uint session) => Ioctl(session, Ioctls.VIDIOC_G_FMT.Descriptor, new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE });

    /// <summary>virtio_media_cmd_ioctl followed by the payload (every ioctl used here is device-readable).</summary>
    private static byte[] Ioctl<T>(uint session, IoctlDescriptor ioctl, T payload)
        where T : unmanaged
    {
        var bytes = Header(Constants.VIRTIO_MEDIA_CMD_IOCTL, 16 + Unsafe.SizeOf<T>());
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), session);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), (uint)ioctl.Number);
        MemoryMarshal.Write(bytes.AsSpan(16), in payload);
        return bytes;
    }

    /// <summary>A device endpoint serving <see cref="LoopbackDevice"/> sessions to a <see cref="RawDriver"/>.</summary>
    private sealed class Bench : IAsyncDisposable
    {
        private Bench(InProcessTransport transport, RawDriver driver, DeviceEndpoint device)
        {
            Transport = transport;
            Driver = driver;
            Device = device;
        }

        public InProcessTransport Transport { get; }

        public RawDriver Driver { get; }

        public DeviceEndpoint Device { get; }

        public static Task<Bench> StartAsync(DeviceEndpointOptions? options = null)
        {
            var transport = new InProcessTransport();
            var driver = new RawDriver(transport); // lays the rings out before the device looks at them
            var device = new DeviceEndpoint(transport, LoopbackDevice.Config, _ => new LoopbackDevice(), options: options);
            transport.Config = device.Config;
            device.Start();
            return Task.FromResult(new Bench(transport, driver, device));
        }

        public async Task<uint> OpenAsync()
        {
            var answer = await Driver.SendAsync(Header(Constants.VIRTIO_MEDIA_CMD_OPEN, 8), 16);
            Assert.AreEqual(16, answer.Length);
            Assert.AreEqual(0u, Status(answer));
            return BinaryPrimitives.ReadUInt32LittleEndian(answer.AsSpan(8));
        }

        /// <summary>S_FMT then G_FMT on <paramref name="session"/>, both answered correctly.</summary>
        public async Task AssertServesAsync(uint session, uint width = 64)
        {
            var format = new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
            format.fmt.pix.width = width;
            format.fmt.pix.height = 48;
            var set = await Driver.SendAsync(Ioctl(session, Ioctls.VIDIOC_S_FMT.Descriptor, format), RespHeader + Unsafe.SizeOf<v4l2_format>());
            Assert.AreEqual(0u, Status(set), "S_FMT of the well-behaved session");
            var got = await Driver.SendAsync(GFmt(session), RespHeader + Unsafe.SizeOf<v4l2_format>());
            Assert.AreEqual(RespHeader + Unsafe.SizeOf<v4l2_format>(), got.Length);
            Assert.AreEqual(0u, Status(got));
            var answer = MemoryMarshal.Read<v4l2_format>(got.AsSpan(RespHeader));
            Assert.AreEqual(width, answer.fmt.pix.width, "the session kept its own format");
            Assert.AreEqual(width * 48, answer.fmt.pix.sizeimage);
        }

        public async ValueTask DisposeAsync()
        {
            await Device.DisposeAsync();
            await Driver.DisposeAsync();
            Transport.Dispose();
        }
    }
}
