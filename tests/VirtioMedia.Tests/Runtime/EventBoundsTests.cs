using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// The events a device holds while the driver supplies no event buffer are bounded per session
/// (<see cref="DeviceEndpointOptions.MaxHeldV4l2EventsPerSession"/>) and over the endpoint
/// (<see cref="DeviceEndpointOptions.MaxHeldEvents"/>), whatever ids the device emits. Driven through a
/// <see cref="RawDriver"/> over the in-process transport.
/// </summary>
[TestClass]
public sealed class EventBoundsTests
{
    private const int Sessions = 8;
    private const int PerSession = 16;
    private const int Endpoint = 40;
    private const int Emits = 5_000;

    [TestMethod]
    public Task Events_of_ever_new_ids_stay_within_the_session_and_endpoint_caps() => Streamer.Guard(async () =>
    {
        using var transport = new InProcessTransport();
        await using var driver = new RawDriver(transport);
        var options = new DeviceEndpointOptions { MaxHeldEvents = Endpoint, MaxHeldV4l2EventsPerSession = PerSession };
        await using var device = new DeviceEndpoint(transport, EventFloodHandler.Config, _ => new EventFloodHandler(), options: options);
        transport.Config = device.Config;
        device.Start();
        var sessions = new List<uint>();
        for (var i = 0; i < Sessions; i++)
        {
            sessions.Add(RawCommands.SessionId(await driver.SendAsync(RawCommands.Open(), 16)));
        }

        // One session alone: its own cap.
        for (var value = 1; value <= PerSession * 4; value++)
        {
            await SetAsync(driver, sessions[0], value);
        }
        Assert.AreEqual(PerSession, device.HeldEvents, "one session holds its cap's worth of distinct events");
        Assert.AreEqual(PerSession * 3L, device.DroppedEvents);

        // All of them, ever new ids: the endpoint's cap.
        for (var i = 0; i < Emits; i++)
        {
            await SetAsync(driver, sessions[i % Sessions], 1000 + i);
            Assert.IsTrue(device.HeldEvents <= Endpoint, $"{device.HeldEvents} held after {i} emits");
        }
        Assert.AreEqual(Endpoint, device.HeldEvents);

        // The driver finally supplies buffers: exactly the held events arrive, then the queue is empty.
        var delivered = 0;
        for (var token = 0; token < Endpoint + 4; token++)
        {
            ReadOnlySpan<ChainSegment> write = [new ChainSegment(driver.EventArea + (ulong)(token * 256), 256)];
            Assert.IsTrue(driver.Events.TryAdd(ReadOnlySpan<ChainSegment>.Empty, write, token, out var kick));
            if (kick)
            {
                transport.Driver.EventKickToDevice.Notify();
            }
        }
        await Streamer.SpinUntil(() => device.HeldEvents == 0);
        while (driver.Events.TryTakeUsed(out var token, out var written))
        {
            Assert.AreEqual(8u + (uint)Unsafe.SizeOf<v4l2_event>(), written);
            var bytes = transport.Memory.GetSpan(driver.EventArea + (ulong)(token * 256), written);
            Assert.AreEqual((uint)Constants.VIRTIO_MEDIA_EVT_EVENT, BinaryPrimitives.ReadUInt32LittleEndian(bytes));
            Assert.AreEqual((uint)Constants.V4L2_EVENT_CTRL, MemoryMarshal.Read<v4l2_event>(bytes[8..]).type);
            delivered++;
        }
        Assert.AreEqual(Endpoint, delivered, "the held events, no more");

        // Room again: a session's next event is held and delivered.
        await SetAsync(driver, sessions[3], 7);
        await Streamer.SpinUntil(() => driver.Events.TryTakeUsed(out _, out _));
        Assert.AreEqual(0, device.HeldEvents);
    }, seconds: 60);

    private static async Task SetAsync(RawDriver driver, uint session, int value)
    {
        var answer = await driver.SendAsync(RawCommands.Ioctl(session, Ioctls.VIDIOC_S_CTRL.Descriptor, new v4l2_control { id = Constants.V4L2_CID_BRIGHTNESS, value = value }), RawCommands.RespHeader + Unsafe.SizeOf<v4l2_control>());
        Assert.AreEqual(0u, RawCommands.Status(answer));
    }
}
