using System;
using System.Diagnostics;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Tests.Runtime;

[TestClass]
public sealed class ConcurrencyAndTimeoutTests
{
    [TestMethod]
    public Task Several_sessions_stream_at_once_with_commands_interleaved_without_deadlock_or_cross_talk() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        var sessions = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => rig.Driver.OpenSessionAsync().AsTask()));
        // Each session's frames carry its own id in the pattern, so a frame delivered to the wrong session fails the check.
        var streams = sessions.Select(session => Task.Run(async () =>
        {
            var stream = StreamingTests.StreamMmapAsync(session, frames: 150);
            // Interleaved control traffic on the same session while it streams.
            for (var i = 0; i < 50 && !stream.IsCompleted; i++)
            {
                var format = await session.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE });
                Assert.AreEqual(0, format.Status);
                Assert.AreEqual(Streamer.Width, format.Payload.fmt.pix.width);
            }
            await stream;
            await session.CloseAsync();
        }));
        await Task.WhenAll(streams);
        Assert.AreEqual(0, rig.Device.SessionCount);
        Assert.AreEqual(0L, rig.Device.UnknownSessionCommands);
        Assert.AreEqual(0L, rig.Driver.StrayEvents);
    }, seconds: 15);

    [TestMethod]
    public Task A_silent_device_yields_TimeoutException_promptly() => Streamer.Guard(async () =>
    {
        using var transport = new InProcessTransport();
        await using var driver = DriverEndpoint.Start(transport.Driver, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromMilliseconds(200) });
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsExactlyAsync<TimeoutException>(async () => await driver.OpenSessionAsync());
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(2), $"timed out after {clock.Elapsed}");
        Assert.IsTrue(clock.Elapsed >= TimeSpan.FromMilliseconds(190));
    });
}
