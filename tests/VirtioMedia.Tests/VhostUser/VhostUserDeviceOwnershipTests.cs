using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.VhostUser;
using VirtioMedia.Tests.Runtime;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>The back-end owns the device it serves: a stop waits for every command that is running, and
/// only then is guest memory released, however slow a handler is.</summary>
[TestClass]
public sealed class VhostUserDeviceOwnershipTests
{
    private static readonly TimeSpan HandlerTime = TimeSpan.FromSeconds(8);

    /// <summary>Answers VIDIOC_G_INPUT only after <see cref="HandlerTime"/>; its reply is then written into
    /// guest memory the front-end has long dropped.</summary>
    private sealed class SlowDevice(TaskCompletionSource entered) : V4l2DeviceHandler<DeviceIoctlContext>
    {
        public override int VIDIOC_G_INPUT(DeviceIoctlContext context, ref int payload)
        {
            entered.TrySetResult();
            Thread.Sleep(HandlerTime);
            payload = 7;
            return 0;
        }
    }

    [TestMethod]
    public async Task A_front_end_that_disconnects_under_a_slow_handler_waits_for_it_and_the_process_stays_up()
    {
        var path = Path.Combine(Path.GetTempPath(), "vm-owner-" + Guid.NewGuid().ToString("N") + ".sock");
        var log = new List<(TimeSpan At, string Line)>();
        var clock = Stopwatch.StartNew();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var endpoints = 0;
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions
            {
                Config = new byte[40],
                SharedMemorySize = 1 << 20,
                StopTimeout = TimeSpan.FromSeconds(1),
                Log = line => { lock (log) { log.Add((clock.Elapsed, line)); } },
            },
            transport =>
            {
                Interlocked.Increment(ref endpoints);
                return new DeviceEndpoint(transport, TestCaptureDevice.Config, _ => new SlowDevice(entered));
            });
        using var stop = new CancellationTokenSource();
        var running = backend.RunAsync(path, stop.Token);
        for (var i = 0; i < 100 && !File.Exists(path); i++)
        {
            await Task.Delay(20);
        }

        var channel = VhostUserChannel.Connect(path);
        var frontend = await Task.Run(() => VhostUserFrontend.Connect(channel, new VhostUserFrontendOptions { MemorySize = 1 << 20 })).WaitAsync(TimeSpan.FromSeconds(10));
        var driver = DriverEndpoint.Start(frontend, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(20) });
        var session = await driver.OpenSessionAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        var ioctl = Task.Run(async () => await session.VIDIOC_G_INPUT(0));
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(5));

        // The front-end goes away without a stop while the handler runs.
        var disconnected = clock.Elapsed;
        channel.Shutdown();
        var stoppedLine = await WaitForAsync(log, "device stopped", TimeSpan.FromSeconds(20));
        var stopTook = stoppedLine.At - disconnected;
        Console.WriteLine($"stop after the disconnect took {stopTook.TotalSeconds:F2} s (handler {HandlerTime.TotalSeconds} s)");
        Assert.IsTrue(stopTook >= HandlerTime - TimeSpan.FromSeconds(1.5), $"the stop waited for the handler: {stopTook}");
        Assert.IsTrue(stopTook < HandlerTime + TimeSpan.FromSeconds(5), $"and completed when it returned: {stopTook}");
        lock (log)
        {
            Assert.IsTrue(log.Any(entry => entry.Line.StartsWith("device still stopping", StringComparison.Ordinal)), "the wait is logged");
        }
        // Nothing popped was lost: OPEN and the slow G_INPUT are both in the used ring, read from the
        // front-end's own mapping (split ring: used.idx is the u16 after the flags), and both available
        // entries were consumed.
        var layout = frontend.CommandQueueLayout;
        Assert.AreEqual(2, BinaryPrimitives.ReadUInt16LittleEndian(frontend.Memory.GetSpan(layout.UsedIndex, 2)), "used.idx after the stop");
        Assert.AreEqual(2, BinaryPrimitives.ReadUInt16LittleEndian(frontend.Memory.GetSpan(layout.AvailableIndex, 2)), "avail.idx: two chains offered");
        await Task.WhenAny(ioctl, Task.Delay(TimeSpan.FromSeconds(5)));
        await driver.DisposeAsync();
        frontend.Dispose();

        // Still up, and serving the next front-end.
        using (var next = await Task.Run(() => VhostUserFrontend.Connect(VhostUserChannel.Connect(path), new VhostUserFrontendOptions { MemorySize = 1 << 20 })).WaitAsync(TimeSpan.FromSeconds(10)))
        {
            await WaitForAsync(log, "device started", TimeSpan.FromSeconds(5), after: stoppedLine.At);
            // "device started" is logged when the run starts; its serve task creates the endpoint just after.
            for (var i = 0; i < 250 && Volatile.Read(ref endpoints) < 2; i++)
            {
                await Task.Delay(20);
            }
            Assert.AreEqual(2, Volatile.Read(ref endpoints), "a new endpoint for the new run");
        }
        stop.Cancel();
        await running.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.IsFalse(File.Exists(path));
    }

    private static async Task<(TimeSpan At, string Line)> WaitForAsync(List<(TimeSpan At, string Line)> log, string prefix, TimeSpan timeout, TimeSpan after = default)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            lock (log)
            {
                foreach (var entry in log)
                {
                    if (entry.At > after && entry.Line.StartsWith(prefix, StringComparison.Ordinal))
                    {
                        return entry;
                    }
                }
            }
            await Task.Delay(20);
        }
        lock (log)
        {
            throw new AssertFailedException($"no \"{prefix}\" within {timeout}: {string.Join(" | ", log.Select(e => e.Line))}");
        }
    }
}
