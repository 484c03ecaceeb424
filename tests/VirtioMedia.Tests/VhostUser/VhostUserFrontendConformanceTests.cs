using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>
/// Our front-end against what QEMU 11.1.3 sent for the same steps (Recordings/qemu-11.1.3-shmem.trace):
/// realize and device start up to the memory table that follows SHMEM_MAP, and the stop before QEMU
/// quits. Same requests in the same order, the same flags (need_reply where QEMU sets it), payload sizes,
/// descriptor counts, feature bits and the fields of each layout that do not depend on where memory is,
/// so the two ends of our own tests can no longer agree on something QEMU does not speak.
/// </summary>
[TestClass]
public sealed class VhostUserFrontendConformanceTests
{
    // vhost-user.rst of QEMU 11: front-end request ids and the back-end's SHMEM_MAP.
    private const uint GetFeatures = 1, SetMemTable = 5, SetVringNum = 8, SetVringAddr = 9, GetVringBase = 11,
        SetVringCall = 13, SetVringEnable = 18, GetConfig = 24, ShmemMap = 9;

    [TestMethod]
    public async Task The_frontend_sends_what_QEMU_sends_to_realize_start_and_stop_a_device()
    {
        var qemu = QemuRecording.Load("qemu-11.1.3-shmem");
        var config = qemu.Messages.First(m => m.Request == GetConfig && !m.FromFrontend).Payload[12..];
        var lines = new List<string>();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions
            {
                Config = config,
                SharedMemorySize = 1 << 20,
                Trace = line => { lock (lines) { lines.Add(line); } },
            },
            async (_, token) =>
            {
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, token).ContinueWith(_ => { }, TaskScheduler.Default);
            });
        var (frontendEnd, backendEnd) = VhostUserChannel.CreatePair();
        var serving = backend.ServeConnectionAsync(backendEnd, CancellationToken.None);
        using (var frontend = await Task.Run(() => VhostUserFrontend.Connect(frontendEnd, new VhostUserFrontendOptions { MemorySize = 1 << 20 }))
            .WaitAsync(TimeSpan.FromSeconds(10)))
        {
            await started.Task.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.AreEqual(1UL << 20, frontend.SharedMemory.Length);
        }
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
        QemuRecording ours;
        lock (lines)
        {
            ours = QemuRecording.Parse("our front-end", lines);
        }

        var (qemuStart, qemuStop) = Steps(qemu, fromQemu: true);
        var (ourStart, ourStop) = Steps(ours, fromQemu: false);
        // The main channel in order; the answer on the back-end channel by itself (the back-end traces
        // it on another thread, so its place among main-channel lines is not fixed).
        AssertSame("realize and start", qemuStart, ourStart);
        AssertSame("the answer to SHMEM_MAP", [FirstAnswer(qemu)], [FirstAnswer(ours)]);
        AssertSame("stop before quitting", qemuStop, ourStop);
    }

    /// <summary>What the front-end sent (requests, and its answers on the back-end channel) to realize and
    /// start the device, through the memory table after SHMEM_MAP; and the stop at the very end. From QEMU's
    /// side, what it repeats for reasons of its own is dropped: GET_FEATURES after the first (vhost_dev_init
    /// asks again), GET_CONFIG after the first of a run (the guest reads the space field by field), and the
    /// call descriptors re-sent after the rings are enabled (QEMU unmasks its interrupts).</summary>
    private static (List<RecordedMessage> Start, List<RecordedMessage> Stop) Steps(QemuRecording recording, bool fromQemu)
    {
        var sent = recording.Messages.Where(m => m.FromFrontend || (m.OnBackendChannel && m.Request == ShmemMap)).ToList();
        var map = sent.FindIndex(m => m.OnBackendChannel && !m.FromFrontend);
        Assert.IsTrue(map >= 0, $"{recording.Name}: SHMEM_MAP sent");
        var table = sent.FindIndex(map, m => m.IsFrontendRequest && m.Request == SetMemTable);
        Assert.IsTrue(table > map, $"{recording.Name}: a memory table after SHMEM_MAP");
        var start = new List<RecordedMessage>();
        var enabled = false;
        for (var i = 0; i <= table; i++)
        {
            var message = sent[i];
            if (message.OnBackendChannel)
            {
                continue; // compared apart: traced on another thread, its place among these is not fixed
            }
            if (fromQemu && message.Request == GetFeatures && start.Any(m => m.Request == GetFeatures))
            {
                continue;
            }
            if (fromQemu && message.Request == GetConfig && start.Count > 0 && start[^1].Request == GetConfig)
            {
                continue;
            }
            if (fromQemu && enabled && message.Request == SetVringCall)
            {
                continue;
            }
            enabled |= message.Request == SetVringEnable;
            start.Add(message);
        }
        // The stop: the last two SET_VRING_ENABLE(0) and the two GET_VRING_BASE after them.
        var firstDisable = sent.FindLastIndex(m => m.IsFrontendRequest && m.Request == SetVringEnable && m.Num == 0) - 1;
        return (start, sent.Skip(firstDisable).ToList());
    }

    private static RecordedMessage FirstAnswer(QemuRecording recording) =>
        recording.Messages.FirstOrDefault(m => m.OnBackendChannel && m.FromFrontend)
        ?? throw new AssertFailedException($"{recording.Name}: no answer on the back-end channel");

    private static void AssertSame(string step, List<RecordedMessage> qemu, List<RecordedMessage> ours)
    {
        var expected = string.Join("\n", qemu.Select(Describe));
        var actual = string.Join("\n", ours.Select(Describe));
        Assert.AreEqual(expected, actual, $"{step}: QEMU 11.1.3 sent (left) and our front-end sent (right) differ");
    }

    /// <summary>A message without what depends on addresses or sizes of memory and rings: for SET_VRING_NUM
    /// only the index, for SET_VRING_ADDR index and flags, for SET_MEM_TABLE the region count; everything
    /// else (features, indexes, enable values, GET_CONFIG's header) byte for byte.</summary>
    private static string Describe(RecordedMessage m)
    {
        var compared = m.Request switch
        {
            _ when m.OnBackendChannel => m.Payload,
            SetVringNum => m.Payload[..4],
            SetVringAddr => m.Payload[..8],
            SetMemTable => m.Payload[..8],
            _ => m.Payload,
        };
        var channel = m.OnBackendChannel ? "backend" : "main";
        return $"{channel} {m.Request} {m.Name} flags=0x{m.Flags:x} size={m.Payload.Length} fds={m.FileDescriptors} {Convert.ToHexStringLower(compared)}";
    }
}
