using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;
using VirtioMedia.Samples.Camera;
using VirtioMedia.Tests.Runtime;

namespace VirtioMedia.Tests.Samples;

/// <summary>
/// A guest that subscribes to control events and never gives the event queue a buffer cannot make the camera's
/// device hold more than V4L2 would: one event per subscription, the newest, its change bits merged
/// (v4l2-event.c). Driven through a <see cref="RawDriver"/> over the in-process transport.
/// </summary>
[TestClass]
public sealed class CameraEventBoundsTests
{
    private const int Changes = 100_000;

    [TestMethod]
    public Task S_CTRL_looped_without_event_buffers_holds_one_event_and_a_flat_heap() => Streamer.Guard(async () =>
    {
        var camera = new VirtualCamera(new CameraOptions { Fast = true });
        using var transport = new InProcessTransport();
        await using var driver = new RawDriver(transport);
        await using var device = camera.CreateEndpoint(transport);
        transport.Config = device.Config;
        device.Start();
        var open = await driver.SendAsync(RawCommands.Open(), 16);
        Assert.AreEqual(0u, RawCommands.Status(open));
        var session = RawCommands.SessionId(open);
        var subscription = new v4l2_event_subscription { type = Constants.V4L2_EVENT_CTRL, id = Constants.V4L2_CID_BRIGHTNESS, flags = Constants.V4L2_EVENT_SUB_FL_ALLOW_FEEDBACK };
        var subscribed = await driver.SendAsync(RawCommands.Ioctl(session, Ioctls.VIDIOC_SUBSCRIBE_EVENT.Descriptor, subscription), RawCommands.RespHeader + Unsafe.SizeOf<v4l2_event_subscription>());
        Assert.AreEqual(0u, RawCommands.Status(subscribed));

        long before = 0;
        var last = 0;
        for (var i = 0; i < Changes; i++)
        {
            last = 1 + i % 200; // within the brightness range, and never the same value twice running
            var set = await driver.SendAsync(RawCommands.Ioctl(session, Ioctls.VIDIOC_S_CTRL.Descriptor, new v4l2_control { id = Constants.V4L2_CID_BRIGHTNESS, value = last }), RawCommands.RespHeader + Unsafe.SizeOf<v4l2_control>());
            Assert.AreEqual(0u, RawCommands.Status(set), $"S_CTRL {i}");
            if (i == 1000)
            {
                before = Heap();
            }
        }
        var after = Heap();
        Console.WriteLine($"held events {device.HeldEvents}, heap {after - before:+#;-#;0} B over {Changes - 1000} S_CTRL");
        Assert.AreEqual(1, device.HeldEvents, "one held event for the one subscription");
        Assert.IsTrue(Math.Abs(after - before) < 1 << 20, $"the heap moved {after - before} B");

        // The guest finally supplies a buffer: it gets the newest value.
        ReadOnlySpan<ChainSegment> write = [new ChainSegment(driver.EventArea, 256)];
        Assert.IsTrue(driver.Events.TryAdd(ReadOnlySpan<ChainSegment>.Empty, write, 1, out var kick));
        if (kick)
        {
            transport.Driver.EventKickToDevice.Notify();
        }
        var (token, written) = (0, 0u);
        await Streamer.SpinUntil(() => driver.Events.TryTakeUsed(out token, out written));
        Assert.AreEqual(8u + (uint)Unsafe.SizeOf<v4l2_event>(), written);
        var bytes = transport.Memory.GetSpan(driver.EventArea, written);
        Assert.AreEqual((uint)Constants.VIRTIO_MEDIA_EVT_EVENT, BinaryPrimitives.ReadUInt32LittleEndian(bytes));
        Assert.AreEqual(session, BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]));
        var ev = MemoryMarshal.Read<v4l2_event>(bytes[8..]);
        Assert.AreEqual((uint)Constants.V4L2_EVENT_CTRL, ev.type);
        Assert.AreEqual((uint)Constants.V4L2_CID_BRIGHTNESS, ev.id);
        Assert.AreEqual(last, ev.u.ctrl.value, "the newest change replaced the older ones");
        Assert.AreEqual((uint)Constants.V4L2_EVENT_CTRL_CH_VALUE, ev.u.ctrl.changes & (uint)Constants.V4L2_EVENT_CTRL_CH_VALUE);
        Assert.AreEqual(0, device.HeldEvents);

        // The session is still served.
        var get = await driver.SendAsync(RawCommands.Ioctl(session, Ioctls.VIDIOC_G_CTRL.Descriptor, new v4l2_control { id = Constants.V4L2_CID_BRIGHTNESS }), RawCommands.RespHeader + Unsafe.SizeOf<v4l2_control>());
        Assert.AreEqual(0u, RawCommands.Status(get));
        Assert.AreEqual(last, RawCommands.Payload<v4l2_control>(get).value);
    }, seconds: 240);

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
