using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>
/// Descriptors a hostile front-end hands the back-end: kick and call must be eventfds (a pipe nobody
/// reads would block every notification, a hung-up one would wake its watcher for ever), and guest
/// memory must cover its regions and be sealed against shrinking (a truncated file is SIGBUS).
/// </summary>
[TestClass]
public sealed class VhostUserPeerDescriptorTests
{
    // vhost-user.rst: front-end request ids, REPLY_ACK (protocol bit 3).
    private const uint SetMemTable = 5, SetVringKick = 12, SetVringCall = 13, SetProtocolFeatures = 16, GetQueueNum = 17;
    private const ulong ReplyAck = 1UL << 3;
    private const int EPERM = 1, O_NONBLOCK = 0x800, O_RDWR = 2;

    private static (RawFrontend Client, Task Serving) Connect(bool acceptUnsealable = false)
    {
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions
            {
                Config = new byte[40],
                SharedMemorySize = 1 << 20,
                AcceptUnsealableMemory = acceptUnsealable,
                StopTimeout = TimeSpan.FromSeconds(2),
                ReplyTimeout = TimeSpan.FromSeconds(2),
            },
            (_, token) => Task.Delay(Timeout.Infinite, token).ContinueWith(_ => { }, TaskScheduler.Default));
        var (client, server) = VhostUserChannel.CreatePair();
        var frontend = new RawFrontend(client);
        var serving = backend.ServeConnectionAsync(server, CancellationToken.None);
        frontend.Send(SetProtocolFeatures, RawFrontend.Version, RawFrontend.U64(ReplyAck));
        return (frontend, serving);
    }

    private static ulong Ack(RawFrontend client, uint request, byte[] payload, params UnixFileDescriptor[] fds) =>
        client.CallU64(request, RawFrontend.Version | RawFrontend.NeedReply, payload, fds);

    [TestMethod]
    public async Task A_pipe_as_call_or_kick_descriptor_is_refused_at_once()
    {
        var (client, serving) = Connect();
        using (client)
        {
            var (read, write) = Pipe();
            using (read)
            using (write)
            {
                var clock = Stopwatch.StartNew();
                Assert.AreNotEqual(0UL, Ack(client, SetVringCall, RawFrontend.U64(0), write), "a pipe is no call eventfd");
                Assert.AreNotEqual(0UL, Ack(client, SetVringKick, RawFrontend.U64(1), read), "a pipe is no kick eventfd");
                Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(2), $"refused in {clock.Elapsed}");
            }
            // An eventfd is taken, and made non-blocking even when the front-end's was blocking.
            using var blocking = new UnixFileDescriptor(EventFdRaw(0, 0));
            Assert.AreEqual(0, FcntlGetFlags(blocking.Value) & O_NONBLOCK);
            Assert.AreEqual(0UL, Ack(client, SetVringCall, RawFrontend.U64(0), blocking));
            Assert.AreNotEqual(0, FcntlGetFlags(blocking.Value) & O_NONBLOCK, "the shared file description is non-blocking now");
            Assert.AreEqual(2UL, client.CallU64(GetQueueNum, RawFrontend.Version, []), "the connection still serves");
        }
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [TestMethod]
    public void A_hung_up_kick_descriptor_ends_its_watcher_instead_of_spinning()
    {
        var (read, write) = Pipe();
        write.Dispose(); // POLLHUP from now on, and read() returns 0 without blocking
        using var source = new EventFdNotificationSource(read, "hung-up kick");
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        while (source.Watching && clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            Thread.Sleep(10);
        }
        Assert.IsFalse(source.Watching, "the watcher ended");
        Assert.IsTrue(source.Faulted, "and says why");
        var ended = clock.Elapsed;
        Thread.Sleep(500);
        var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        Console.WriteLine($"watcher ended after {ended.TotalMilliseconds:F0} ms; process CPU over {clock.Elapsed.TotalMilliseconds:F0} ms: {used.TotalMilliseconds:F0} ms");
        // A spinning watcher alone would use the whole of one core over these 0.5 s and more.
        Assert.IsTrue(used < TimeSpan.FromMilliseconds(400) + clock.Elapsed * 0.5, $"{used.TotalMilliseconds:F0} ms of CPU");
    }

    [TestMethod]
    public async Task A_memory_file_shorter_than_its_region_is_refused()
    {
        var (client, serving) = Connect();
        using (client)
        {
            using var memory = MemoryFile.Create("short", 1 << 16);
            Assert.AreNotEqual(0UL, Ack(client, SetMemTable, VhostUserBackendTests.MemoryTable(0, 2 << 16, 0x7000_0000, 0), memory.Descriptor), "128 KiB of a 64 KiB file");
            Assert.AreNotEqual(0UL, Ack(client, SetMemTable, VhostUserBackendTests.MemoryTable(0, 1 << 16, 0x7000_0000, 4096), memory.Descriptor), "offset + size past the end");
            Assert.AreEqual(0UL, Ack(client, SetMemTable, VhostUserBackendTests.MemoryTable(0, 1 << 16, 0x7000_0000, 0), memory.Descriptor), "the whole file fits");
        }
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [TestMethod]
    public async Task Guest_memory_in_a_memfd_is_sealed_while_the_back_end_maps_it()
    {
        var (client, serving) = Connect();
        using (client)
        {
            using var memory = MemoryFile.Create("sealable", 1 << 16);
            Assert.AreEqual(0UL, Ack(client, SetMemTable, VhostUserBackendTests.MemoryTable(0, 1 << 16, 0x7000_0000, 0), memory.Descriptor));
            Assert.AreEqual(-1, Ftruncate(memory.Descriptor.Value, 4096), "the front-end can no longer shrink it");
            Assert.AreEqual(EPERM, Marshal.GetLastPInvokeError());
        }
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [TestMethod]
    public async Task Guest_memory_that_cannot_be_sealed_is_refused_unless_allowed()
    {
        // A memory-backend-file as QEMU users put it on /dev/shm: a regular file, which takes no seals.
        var directory = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        var path = Path.Combine(directory, "vm-unsealable-" + Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(path, new byte[1 << 16]);
        try
        {
            foreach (var allowed in new[] { false, true })
            {
                var (client, serving) = Connect(acceptUnsealable: allowed);
                using (client)
                using (var file = new UnixFileDescriptor(Open(path, O_RDWR)))
                {
                    var status = Ack(client, SetMemTable, VhostUserBackendTests.MemoryTable(0, 1 << 16, 0x7000_0000, 0), file);
                    if (allowed)
                    {
                        Assert.AreEqual(0UL, status, "accepted when the option says so");
                    }
                    else
                    {
                        Assert.AreNotEqual(0UL, status, "refused by default");
                    }
                    Assert.AreEqual(2UL, client.CallU64(GetQueueNum, RawFrontend.Version, []), "the connection still serves");
                }
                await serving.WaitAsync(TimeSpan.FromSeconds(5));
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static unsafe (UnixFileDescriptor Read, UnixFileDescriptor Write) Pipe()
    {
        var fds = stackalloc int[2];
        Assert.AreEqual(0, Pipe2(fds, O_NONBLOCK));
        return (new UnixFileDescriptor(fds[0]), new UnixFileDescriptor(fds[1]));
    }

    [DllImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    private static extern unsafe int Pipe2(int* fds, int flags);

    [DllImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static extern int EventFdRaw(uint initial, int flags);

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static extern int Fcntl(int fd, int command, int argument);

    private static int FcntlGetFlags(int fd) => Fcntl(fd, 3 /* F_GETFL */, 0);

    [DllImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static extern int Ftruncate(int fd, long length);

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open(string path, int flags);
}
