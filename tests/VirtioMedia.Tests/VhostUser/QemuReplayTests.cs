using System;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>
/// Replays what a real QEMU 11.1.3 sent (Recordings/*.trace) to the back-end over a real Unix socket, with
/// descriptors made as QEMU makes them (a memfd for guest RAM, eventfds for kicks, calls and errors, a
/// socketpair for the back-end channel, and the back-end's own memfd from SHMEM_MAP passed back in the
/// table that follows it), and checks every reply against the one QEMU accepted, and where the device runs.
/// </summary>
[TestClass]
public sealed class QemuReplayTests
{
    // vhost-user.rst of QEMU 11: front-end request ids, back-end request ids.
    private const uint SetMemTable = 5, GetVringBase = 11, SetVringKick = 12, SetVringCall = 13, SetVringErr = 14,
        SetVringEnable = 18, SetBackendReqFd = 21, GetConfig = 24, ShmemMap = 9;

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    [TestMethod]
    [DataRow("qemu-11.1.3-shmem", 256UL << 20)]
    [DataRow("qemu-11.1.3-shmem-sigterm", 256UL << 20)]
    [DataRow("qemu-11.1.3-no-shmem", 0UL)]
    public async Task A_recorded_QEMU_session_gets_the_replies_QEMU_accepted_and_the_device_runs_exactly_between_start_and_reset(string name, ulong sharedMemorySize)
    {
        var recording = QemuRecording.Load(name);
        // The config space the recorded GET_CONFIG replies carried (after offset, size, flags).
        var config = recording.Messages.First(m => m.Request == GetConfig && !m.FromFrontend).Payload[12..];
        // Where the back-end started a device (its log, written on the message loop as it happens), where
        // the device's serve function was called (later: after SHMEM_MAP was acknowledged, on another
        // thread), and where its token was cancelled (synchronously, before the reply that stops it).
        var events = new ConcurrentQueue<DeviceEvent>();
        var served = new ConcurrentQueue<(int Line, ulong SharedMemoryLength)>();
        var line = 0;
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions
            {
                Config = config,
                SharedMemorySize = sharedMemorySize,
                StopTimeout = Patience,
                ReplyTimeout = Patience,
                Log = entry =>
                {
                    if (entry.StartsWith("device started", StringComparison.Ordinal))
                    {
                        events.Enqueue(new DeviceEvent(true, Volatile.Read(ref line), 0));
                    }
                },
            },
            async (transport, token) =>
            {
                served.Enqueue((Volatile.Read(ref line), transport.SharedMemory.Length));
                using var registration = token.Register(() => events.Enqueue(new DeviceEvent(false, Volatile.Read(ref line), transport.Memory.Regions.Length)));
                await Task.Delay(Timeout.Infinite, token).ContinueWith(_ => { }, TaskScheduler.Default);
            });

        var (client, server) = VhostUserChannel.CreatePair();
        var serving = backend.ServeConnectionAsync(server, CancellationToken.None);
        var owned = new List<IDisposable>();
        var ram = new Dictionary<ulong, MemoryFile>();
        VhostUserChannel? backendChannel = null;
        UnixFileDescriptor? sharedFile = null;
        var sharedLength = 0UL;
        try
        {
            foreach (var message in recording.Messages)
            {
                if (message.FromFrontend)
                {
                    // The line of the message the back-end is handling: the last one QEMU sent.
                    Volatile.Write(ref line, message.Line);
                }
                if (message.IsFrontendRequest)
                {
                    UnixFileDescriptor[] fds;
                    switch (message.Request)
                    {
                        case SetMemTable:
                            fds = RegionFiles(message, ram, sharedFile, sharedLength);
                            break;
                        case SetVringKick or SetVringCall or SetVringErr when message.FileDescriptors == 1:
                        {
                            var eventFd = EventFd.Create();
                            owned.Add(eventFd);
                            fds = [eventFd];
                            break;
                        }
                        case SetBackendReqFd:
                        {
                            var (mine, theirs) = VhostUserChannel.CreateSocketPair();
                            backendChannel = new VhostUserChannel(mine);
                            owned.Add(theirs);
                            fds = [theirs];
                            break;
                        }
                        default:
                            Assert.AreEqual(0, message.FileDescriptors, $"{message}: descriptors of an unexpected kind");
                            fds = [];
                            break;
                    }
                    client.SendRaw(RawFrontend.Message(message.Request, message.Flags, message.Payload), fds);
                }
                else if (!message.OnBackendChannel)
                {
                    using var reply = client.Receive(Patience) ?? throw new AssertFailedException($"{message}: the back-end closed the connection");
                    Assert.AreEqual(message.Request, reply.Request, $"{message}: reply to another request");
                    Assert.AreEqual(message.Flags, reply.Flags, $"{message}: reply flags");
                    Assert.AreEqual(0, reply.FileDescriptorCount, message.ToString());
                    if (message.Request == GetVringBase)
                    {
                        // The same vring; its base is what this replay's device consumed: nothing.
                        Assert.AreEqual(8, reply.Payload.Length, message.ToString());
                        Assert.AreEqual(message.Index, BinaryPrimitives.ReadUInt32LittleEndian(reply.Payload), message.ToString());
                        Assert.AreEqual(0u, BinaryPrimitives.ReadUInt32LittleEndian(reply.Payload.AsSpan(4)), message.ToString());
                    }
                    else
                    {
                        CollectionAssert.AreEqual(message.Payload, reply.Payload, $"{message}: reply payload");
                    }
                }
                else if (!message.FromFrontend)
                {
                    Assert.IsNotNull(backendChannel, $"{message}: no back-end channel");
                    using var request = backendChannel.Receive(Patience) ?? throw new AssertFailedException($"{message}: the back-end channel closed");
                    Assert.AreEqual(message.Request, request.Request, $"{message}: another back-end request");
                    Assert.AreEqual(message.Flags, request.Flags, message.ToString());
                    Assert.AreEqual(message.FileDescriptors, request.FileDescriptorCount, message.ToString());
                    CollectionAssert.AreEqual(message.Payload, request.Payload, $"{message}: MMAP request layout");
                    if (request.Request == ShmemMap)
                    {
                        sharedFile = request.TakeFileDescriptor(0);
                        owned.Add(sharedFile!);
                        sharedLength = BinaryPrimitives.ReadUInt64LittleEndian(request.Payload.AsSpan(24));
                    }
                }
                else
                {
                    // QEMU's answer on the back-end channel.
                    backendChannel!.SendRaw(RawFrontend.Message(message.Request, message.Flags, message.Payload));
                }
            }
            // QEMU quits: the connection closes.
            Volatile.Write(ref line, int.MaxValue);
            client.Dispose();
            await serving.WaitAsync(Patience);
            if (backendChannel is not null)
            {
                // Nothing after the last stop, in particular no SHMEM_UNMAP: the back-end channel just ends.
                using var late = backendChannel.Receive(Patience);
                Assert.IsNull(late, late is null ? "" : $"back-end request {late.Request} after the device stopped");
            }
        }
        finally
        {
            client.Dispose();
            backendChannel?.Dispose();
            foreach (var disposable in owned)
            {
                disposable.Dispose();
            }
            foreach (var file in ram.Values)
            {
                file.Dispose();
            }
        }

        // Where the recording says the device must run: from the point both rings are enabled (and, with
        // shared memory, region 0 is mapped) until the first ring is disabled, at the latest the first
        // GET_VRING_BASE ("Ring states"); a memory table in between is no reason to stop.
        var runs = Runs(recording);
        var seen = events.ToArray();
        var serves = served.ToArray();
        Assert.AreEqual(runs.Count * 2, seen.Length, string.Join("; ", seen.Select(e => e.ToString())));
        Assert.AreEqual(runs.Count, serves.Length, "the device is served once per start");
        for (var i = 0; i < runs.Count; i++)
        {
            var (started, mapped, stopping, stopped, tables) = runs[i];
            var (start, stop) = (seen[2 * i], seen[2 * i + 1]);
            Assert.IsTrue(start.Started && !stop.Started, $"run {i}: {start}, {stop}");
            Assert.AreEqual(started, start.Line, $"run {i}: the device starts with the message that enables the last ring");
            Assert.IsTrue(serves[i].Line >= mapped, $"run {i}: served at line {serves[i].Line}, before SHMEM_MAP was acknowledged at {mapped}");
            Assert.IsTrue(stop.Line >= stopping && stop.Line <= stopped, $"run {i}: stopped at line {stop.Line}, expected in [{stopping}, {stopped}]");
            Assert.AreEqual(sharedMemorySize, serves[i].SharedMemoryLength, $"run {i}: shared memory region 0");
            if (sharedMemorySize > 0)
            {
                Assert.AreEqual(1, tables, $"run {i}: QEMU sends one table while the device runs, after SHMEM_MAP");
                Assert.AreEqual(2, stop.Regions, $"run {i}: the device ran on with the table that added the back-end's memfd");
            }
            else
            {
                Assert.AreEqual(0, tables, $"run {i}: without SHMEM no table arrives while the device runs");
            }
        }
    }

    private readonly record struct DeviceEvent(bool Started, int Line, int Regions);

    /// <summary>For each start in the recording: the line that enables the last ring (everything else
    /// set, the device starts there), the line from which it may be served (SHMEM_MAP acknowledged, when
    /// there is one), the first line of the stop (a ring disabled), the line by which it must have
    /// stopped (the first GET_VRING_BASE), and how many memory tables arrived while it ran.</summary>
    private static List<(int Started, int Mapped, int Stopping, int Stopped, int Tables)> Runs(QemuRecording recording)
    {
        var runs = new List<(int, int, int, int, int)>();
        var enabled = new bool[2];
        int? started = null, mapped = null, stopping = null;
        var tables = 0;
        var messages = recording.Messages;
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            if (message.IsFrontendRequest && message.Request == SetVringEnable)
            {
                enabled[message.Index] = message.Num == 1;
                if (started is null && enabled.All(e => e))
                {
                    // With shared memory the device is served once the front-end acknowledged SHMEM_MAP.
                    var map = messages.Skip(i).FirstOrDefault(m => m.OnBackendChannel && m.FromFrontend && m.Request == ShmemMap);
                    var nextStop = messages.Skip(i).First(m => m.IsFrontendRequest && m.Request == SetVringEnable && m.Num == 0);
                    started = message.Line;
                    mapped = map is not null && map.Line < nextStop.Line ? map.Line : message.Line;
                    tables = 0;
                }
                else if (started is not null && stopping is null && message.Num == 0)
                {
                    stopping = message.Line;
                }
            }
            else if (message.IsFrontendRequest && message.Request == SetMemTable && started is not null && stopping is null)
            {
                tables++;
            }
            else if (message.IsFrontendRequest && message.Request == GetVringBase && started is not null)
            {
                runs.Add((started.Value, mapped!.Value, stopping ?? message.Line, message.Line, tables));
                started = mapped = stopping = null;
            }
        }
        Assert.IsTrue(runs.Count >= 2, $"{recording.Name}: the recording shows a start, a reset and a restart");
        return runs;
    }

    /// <summary>The files of a recorded memory table: guest RAM is one memfd per user address (QEMU passes
    /// the same file each time), the region that repeats SHMEM_MAP's length is the back-end's own memfd.</summary>
    private static UnixFileDescriptor[] RegionFiles(RecordedMessage message, Dictionary<ulong, MemoryFile> ram, UnixFileDescriptor? sharedFile, ulong sharedLength)
    {
        var count = (int)BinaryPrimitives.ReadUInt32LittleEndian(message.Payload);
        Assert.AreEqual(count, message.FileDescriptors, message.ToString());
        var fds = new UnixFileDescriptor[count];
        for (var i = 0; i < count; i++)
        {
            var region = message.Payload.AsSpan(8 + 32 * i);
            var size = BinaryPrimitives.ReadUInt64LittleEndian(region.Slice(8));
            var user = BinaryPrimitives.ReadUInt64LittleEndian(region.Slice(16));
            var offset = BinaryPrimitives.ReadUInt64LittleEndian(region.Slice(24));
            if (ram.TryGetValue(user, out var file))
            {
                fds[i] = file.Descriptor;
            }
            else if (sharedFile is not null && size == sharedLength && offset == 0)
            {
                fds[i] = sharedFile;
            }
            else
            {
                // Sparse: only the pages the back-end touches get memory.
                file = MemoryFile.Create("recorded-guest-ram", offset + size);
                ram[user] = file;
                fds[i] = file.Descriptor;
            }
        }
        return fds;
    }
}
