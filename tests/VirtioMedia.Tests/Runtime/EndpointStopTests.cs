using System;
using System.Buffers.Binary;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// Stopping a device endpoint closes every session (disposing its handler) and answers every command it took from
/// the ring: the one a slow handler is running finishes, the ones queued behind it are answered ENODEV, so each
/// chain the device popped has a used entry. Driven through a <see cref="RawDriver"/> over the in-process transport.
/// </summary>
[TestClass]
public sealed class EndpointStopTests
{
    private const int Queued = 6;

    [TestMethod]
    public Task Stop_answers_every_popped_command_and_closes_every_session() => Streamer.Guard(async () =>
    {
        var probe = new HandlerProbe();
        using var transport = new InProcessTransport();
        await using var driver = new RawDriver(transport);
        var device = new DeviceEndpoint(transport, ProbeHandler.Config, session => new ProbeHandler(probe, session));
        transport.Config = device.Config;
        device.Start();

        var slow = RawCommands.SessionId(await driver.SendAsync(RawCommands.Open(), 16));
        var idle = RawCommands.SessionId(await driver.SendAsync(RawCommands.Open(), 16));
        probe.Gate.Reset();
        var running = Send(driver, slow);
        await Streamer.SpinUntil(() => probe.Started == 1);
        var queued = Enumerable.Range(0, Queued).Select(_ => Send(driver, slow)).ToArray();
        // Every one of them is popped and waits in the session's queue behind the running G_FMT.
        const int Sent = Queued + 3;
        await Streamer.SpinUntil(() => transport.CommandQueue.NextAvailable == Sent);

        var stop = device.StopAsync(TimeSpan.FromSeconds(20));
        var cancelled = await Task.WhenAll(queued);
        foreach (var answer in cancelled)
        {
            Assert.AreEqual(RawCommands.RespHeader, answer.Length);
            Assert.AreEqual((uint)Constants.ENODEV, RawCommands.Status(answer), "a command not started at stop is answered, not dropped");
        }
        Assert.IsFalse(stop.IsCompleted, "the stop waits for the running handler");
        Assert.IsFalse(running.IsCompleted);
        probe.Gate.Set();
        var finished = await running;
        Assert.AreEqual(0u, RawCommands.Status(finished), "the running command finishes normally");
        Assert.AreEqual(slow, RawCommands.Payload<v4l2_format>(finished).fmt.pix.width);
        await stop.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.AreEqual(0, device.SessionCount, "no session outlives the stop");
        Assert.AreEqual(2, probe.Created);
        Assert.AreEqual(2, probe.Disposed, "the slow and the idle session's handlers are disposed");
        Assert.AreEqual(0, probe.DisposedTwice);
        Assert.AreEqual(Queued, (int)device.CancelledCommands);
        Assert.IsFalse(device.TryGetSession(idle, out _));
        Assert.AreEqual(1, probe.Started, "no queued command reached the handler");
        var layout = transport.Driver.CommandQueueLayout;
        Assert.AreEqual((ushort)Sent, BinaryPrimitives.ReadUInt16LittleEndian(transport.Memory.GetSpan(layout.UsedRing + 2, 2)), "used.idx: one used entry for each chain the device popped");
        await device.DisposeAsync();
        Assert.AreEqual(2, probe.Disposed, "a second stop closes nothing twice");
    });

    [TestMethod]
    public Task A_new_endpoint_on_the_same_transport_serves_a_good_peer_after_a_stop() => Streamer.Guard(async () =>
    {
        var probe = new HandlerProbe();
        using var transport = new InProcessTransport();
        await using var driver = new RawDriver(transport);
        await using (var first = new DeviceEndpoint(transport, ProbeHandler.Config, session => new ProbeHandler(probe, session)))
        {
            transport.Config = first.Config;
            first.Start();
            for (var i = 0; i < 10; i++)
            {
                Assert.AreEqual(0u, RawCommands.Status(await driver.SendAsync(RawCommands.Open(), 16)));
            }
            await first.StopAsync();
            Assert.AreEqual(0, first.SessionCount);
        }
        Assert.AreEqual(10, probe.Disposed);
        await using var second = new DeviceEndpoint(transport, ProbeHandler.Config, session => new ProbeHandler(probe, session));
        second.Start();
        var id = RawCommands.SessionId(await driver.SendAsync(RawCommands.Open(), 16));
        var format = await driver.SendAsync(RawCommands.Ioctl(id, Ioctls.VIDIOC_G_FMT.Descriptor, new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE }), RawCommands.RespHeader + Unsafe.SizeOf<v4l2_format>());
        Assert.AreEqual(0u, RawCommands.Status(format));
        Assert.AreEqual(id, RawCommands.Payload<v4l2_format>(format).fmt.pix.width);
    });

    private static Task<byte[]> Send(RawDriver driver, uint session) =>
        driver.SendAsync(RawCommands.Ioctl(session, Ioctls.VIDIOC_G_FMT.Descriptor, new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE }), RawCommands.RespHeader + Unsafe.SizeOf<v4l2_format>(), timeoutSeconds: 30);
}
