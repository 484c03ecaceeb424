using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading.Channels;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// The driver endpoint owns what it started: disposed under a device that answered two OPENs and then nothing, every
/// command in flight and every command still waiting for a slot fails at once with ObjectDisposedException (not
/// after the 60 s command timeout), every session's buffer and event streams end with it, and no session is left.
/// </summary>
[TestClass]
public sealed class DriverEndpointDisposalTests
{
    private const int Calls = 200; // more than the 128 slots of a 256-entry command queue: some wait for a slot

    [TestMethod]
    public Task Disposing_under_a_device_that_never_answers_fails_every_pending_call_promptly() => Streamer.Guard(async () =>
    {
        using var transport = new InProcessTransport(commandQueueSize: 256);
        var raw = new RawDevice(transport);
        var driver = DriverEndpoint.Start(transport.Driver, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(60) });
        var sessions = new List<DriverSession>();
        for (uint id = 7; id <= 8; id++)
        {
            var opening = driver.OpenSessionAsync().AsTask();
            await Streamer.SpinUntil(() => raw.TryAnswerCommand(new virtio_media_resp_open { session_id = id }));
            sessions.Add(await opening);
        }

        var pending = new List<Task>();
        for (var i = 0; i < Calls; i++)
        {
            var session = sessions[i % 2];
            pending.Add(i % 3 == 0
                ? session.MapAsync((uint)i * 4096).AsTask()
                : session.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE }).AsTask());
        }
        var streams = sessions.SelectMany(s => new Task[] { s.DequeuedBuffers.ReadAsync().AsTask(), s.Events.ReadAsync().AsTask() }).ToList();
        await Task.Delay(100);
        Assert.IsFalse(pending.Any(t => t.IsCompleted) || streams.Any(t => t.IsCompleted), "nothing answered: every call is pending");
        Assert.AreEqual(128, driver.CommandsInFlight, "every slot is the device's; the other calls wait for one");

        var clock = Stopwatch.StartNew();
        await driver.DisposeAsync();
        var all = Task.WhenAll(pending.Concat(streams));
        await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(2)));
        var elapsed = clock.Elapsed;
        Console.WriteLine($"{pending.Count} pending calls and {streams.Count} stream reads ended {elapsed.TotalMilliseconds:F0} ms after the dispose began");
        Assert.IsTrue(all.IsCompleted, $"every pending call ended within 2 s of the dispose (not the 60 s timeout); {pending.Count(t => !t.IsCompleted)} calls still pending");

        foreach (var call in pending)
        {
            Assert.IsInstanceOfType<ObjectDisposedException>(call.Exception?.InnerException, $"a pending call failed with {call.Exception?.InnerException?.GetType().Name ?? "nothing"}");
        }
        foreach (var read in streams)
        {
            var error = read.Exception?.InnerException;
            Assert.IsInstanceOfType<ChannelClosedException>(error, "the stream ended with an error, not quietly");
            Assert.IsInstanceOfType<ObjectDisposedException>(error!.InnerException);
            StringAssert.Contains(error.InnerException!.Message, "disposed");
        }
        Assert.AreEqual(0, driver.SessionCount, "no session is left");
        await Assert.ThrowsExactlyAsync<ObjectDisposedException>(async () => await sessions[0].VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE }));
        await driver.DisposeAsync(); // a second dispose is harmless
    });
}
