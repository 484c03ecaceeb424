using System;
using System.Buffers.Binary;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>
/// Our front-end against a back-end that maps shared memory region 0 with a file too short for the
/// range and then unmaps a range under a reader: the front-end refuses the first (no SIGBUS later), and
/// leaves zero pages where the second was (a stale reader sees zeros, not a fault).
/// </summary>
[TestClass]
public sealed class VhostUserFrontendHostileBackendTests
{
    // vhost-user.rst: front-end requests, back-end requests, protocol feature bits.
    private const uint GetFeatures = 1, GetProtocolFeatures = 15, GetVringBase = 11, SetVringEnable = 18, SetBackendReqFd = 21, GetShmemConfig = 44;
    private const uint ShmemMap = 9, ShmemUnmap = 10;
    private const ulong RegionSize = 1 << 16;

    [TestMethod]
    public async Task A_short_file_is_refused_and_an_unmapped_range_reads_as_zeros()
    {
        var (frontendEnd, backendEnd) = VhostUserChannel.CreatePair();
        var statuses = new ulong[3];
        using var shortFile = MemoryFile.Create("short", 4096);
        using var goodFile = MemoryFile.Create("good", RegionSize);
        goodFile.Mapping.Span[0x2000] = 0x77;
        var unmap = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var unmapped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = Task.Run(() => ServeHostile(backendEnd, shortFile, goodFile, statuses, unmap.Task, unmapped));

        using (var frontend = await Task.Run(() => VhostUserFrontend.Connect(frontendEnd, new VhostUserFrontendOptions { MemorySize = 1 << 20 })).WaitAsync(TimeSpan.FromSeconds(10)))
        {
            Assert.AreNotEqual(0UL, statuses[0], "SHMEM_MAP of 64 KiB from a 4 KiB file refused");
            Assert.AreEqual(0UL, statuses[1], "the same map from a 64 KiB file accepted");
            Assert.AreEqual(0x77, frontend.SharedMemory.GetSpan(0x2000, 1)[0], "the back-end's bytes are there");
            Assert.IsTrue(MemoryMapping.IsSealedAgainstShrinking(goodFile.Descriptor), "the front-end sealed what it mapped");

            var notices = 0;
            (ulong Offset, ulong Length) notice = default;
            frontend.SharedMemoryUnmapped += (offset, length) =>
            {
                notice = (offset, length);
                Interlocked.Increment(ref notices);
            };
            unmap.SetResult();
            await unmapped.Task.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.AreEqual(0UL, statuses[2], "SHMEM_UNMAP accepted");
            Assert.AreEqual(1, Volatile.Read(ref notices), "the driver side is told once (it revokes the buffers mapped there)");
            Assert.AreEqual((0UL, RegionSize), notice);
            // A reader that still holds the old range: zeros, and writable, instead of a fault.
            var stale = frontend.SharedMemory.GetSpan(0, (int)RegionSize);
            Assert.AreEqual(-1, stale.IndexOfAnyExcept((byte)0), "zero pages after the unmap");
            stale[0x2000] = 1;
            Assert.AreEqual(0x77, goodFile.Mapping.Span[0x2000], "and no longer the back-end's file");
        }
        await backend.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static void ServeHostile(VhostUserChannel channel, MemoryFile shortFile, MemoryFile goodFile, ulong[] statuses, Task unmap, TaskCompletionSource unmapped)
    {
        using var main = channel;
        VhostUserChannel? requests = null;
        var enabled = 0;
        try
        {
            while (true)
            {
                using var message = main.Receive(TimeSpan.FromSeconds(10));
                if (message is null)
                {
                    return;
                }
                byte[]? reply = message.Request switch
                {
                    GetFeatures => RawFrontend.U64((1UL << 32) | (1UL << 30)),
                    // REPLY_ACK 3, BACKEND_REQ 5, BACKEND_SEND_FD 10, SHMEM 22.
                    GetProtocolFeatures => RawFrontend.U64((1UL << 3) | (1UL << 5) | (1UL << 10) | (1UL << 22)),
                    GetShmemConfig => ShmemConfig(),
                    GetVringBase => message.Payload,
                    _ => null,
                };
                if (message.Request == SetBackendReqFd)
                {
                    requests = new VhostUserChannel(message.TakeFileDescriptor(0)!);
                }
                if (reply is null && message.NeedsReply)
                {
                    reply = RawFrontend.U64(0);
                }
                if (reply is not null)
                {
                    main.SendRaw(RawFrontend.Message(message.Request, RawFrontend.Version | RawFrontend.Reply, reply));
                }
                if (message.Request == SetVringEnable && ++enabled == 2)
                {
                    statuses[0] = BackendRequest(requests!, ShmemMap, shortFile.Descriptor);
                    statuses[1] = BackendRequest(requests!, ShmemMap, goodFile.Descriptor);
                    _ = unmap.ContinueWith(_ =>
                    {
                        statuses[2] = BackendRequest(requests!, ShmemUnmap, null);
                        unmapped.SetResult();
                    }, TaskScheduler.Default);
                }
            }
        }
        finally
        {
            unmap.Wait(TimeSpan.FromSeconds(10));
            unmapped.Task.Wait(TimeSpan.FromSeconds(10));
            requests?.Dispose();
        }
    }

    private static byte[] ShmemConfig()
    {
        var config = new byte[8 + 256 * 8];
        BinaryPrimitives.WriteUInt32LittleEndian(config, 1);
        BinaryPrimitives.WriteUInt64LittleEndian(config.AsSpan(8), RegionSize);
        return config;
    }

    /// <summary>Sends SHMEM_MAP or SHMEM_UNMAP of the whole region with need_reply and returns the front-end's status.</summary>
    private static ulong BackendRequest(VhostUserChannel requests, uint request, UnixFileDescriptor? fd)
    {
        var payload = new byte[40]; // shmid 0, fd_offset 0, shm_offset 0, len, flags read-write
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(24), RegionSize);
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(32), 1);
        requests.SendRaw(RawFrontend.Message(request, RawFrontend.Version | RawFrontend.NeedReply, payload), fd is null ? [] : [fd]);
        using var reply = requests.Receive(TimeSpan.FromSeconds(5)) ?? throw new InvalidOperationException("the front-end closed its back-end channel");
        return BinaryPrimitives.ReadUInt64LittleEndian(reply.Payload);
    }
}
