using System;
using System.Collections.Generic;
using System.Reflection;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// Session ids: the device hands them out counting up (wrapping, skipping 0 and ids still held), so an event of a
/// closed session that is still on its way can never be taken for one of a new session; and the driver drops every
/// event for a session it has closed, even before the device answered the CLOSE.
/// </summary>
[TestClass]
public sealed class SessionIdTests
{
    [TestMethod]
    public Task Device_never_hands_a_closed_id_out_again_soon() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        var seen = new HashSet<uint>();
        uint previous = 0;
        for (var i = 0; i < 50; i++)
        {
            var session = await rig.Driver.OpenSessionAsync();
            Assert.IsTrue(session.Id > previous, $"id {session.Id} after {previous}: ids count up");
            Assert.IsTrue(seen.Add(session.Id), $"id {session.Id} handed out twice");
            previous = session.Id;
            await session.CloseAsync();
        }
    });

    [TestMethod]
    public Task Device_ids_wrap_around_skipping_zero_and_ids_in_use() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start();
        var first = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(1u, first.Id);
        SessionIds.SetNext(rig.Device, uint.MaxValue);
        var last = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(uint.MaxValue, last.Id);
        var wrapped = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(2u, wrapped.Id, "after 2^32 - 1 comes 1 (0 is never used), which is held, so 2");
        Assert.AreEqual(0, (await wrapped.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE })).Status);
        Assert.AreEqual(3, rig.Device.SessionCount);
    });

    [TestMethod]
    public Task Driver_drops_events_for_a_session_it_has_closed() => Streamer.Guard(async () =>
    {
        // A hand-driven device, to put events on the queue for a session the driver is closing or has closed, and
        // to hand the same id out again right away as a device may (the endpoint in this project never does).
        using var transport = new InProcessTransport();
        transport.Config = TestCaptureDevice.Config;
        await using var driver = DriverEndpoint.Start(transport.Driver);
        var raw = new RawDevice(transport);
        var opening = driver.OpenSessionAsync().AsTask();
        await Streamer.SpinUntil(() => raw.TryAnswerCommand(new virtio_media_resp_open { session_id = 7 }));
        var session = await opening;

        var closing = session.CloseAsync().AsTask();
        Assert.IsTrue(raw.TrySendEvent(Dqbuf(7, index: 1)), "sent while the CLOSE is unanswered");
        await Streamer.SpinUntil(() => driver.StrayEvents == 1);
        await Streamer.SpinUntil(() => raw.TryAnswerCommand(new virtio_media_resp_header()));
        await closing;
        Assert.IsFalse(session.DequeuedBuffers.TryRead(out _), "nothing delivered to the closed session");
        Assert.IsTrue(session.DequeuedBuffers.Completion.IsCompleted);

        Assert.IsTrue(raw.TrySendEvent(Dqbuf(7, index: 2)), "a stale event after the CLOSE was answered");
        await Streamer.SpinUntil(() => driver.StrayEvents == 2);

        opening = driver.OpenSessionAsync().AsTask();
        await Streamer.SpinUntil(() => raw.TryAnswerCommand(new virtio_media_resp_open { session_id = 7 }));
        var reopened = await opening;
        Assert.IsTrue(raw.TrySendEvent(Dqbuf(7, index: 3)));
        var delivered = await reopened.DequeuedBuffers.ReadAsync();
        Assert.AreEqual(3u, delivered.Buffer.index, "the new session gets its own event, none of the old one's");
        Assert.AreEqual(2L, driver.StrayEvents);
        Assert.IsFalse(reopened.DequeuedBuffers.TryRead(out _));
    });

    private static virtio_media_event_dqbuf Dqbuf(uint sessionId, uint index)
    {
        var dqbuf = new virtio_media_event_dqbuf { hdr = new virtio_media_event_header { @event = Constants.VIRTIO_MEDIA_EVT_DQBUF, session_id = sessionId } };
        dqbuf.buffer.type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE;
        dqbuf.buffer.memory = Constants.V4L2_MEMORY_MMAP;
        dqbuf.buffer.index = index;
        return dqbuf;
    }
}

/// <summary>Steers the device's id counter, which otherwise needs 2^32 OPENs to wrap.</summary>
internal static class SessionIds
{
    private static readonly FieldInfo LastSessionId = typeof(DeviceEndpoint).GetField("_lastSessionId", BindingFlags.NonPublic | BindingFlags.Instance)
        ?? throw new InvalidOperationException("DeviceEndpoint no longer keeps its id counter in _lastSessionId");

    /// <summary>Makes <paramref name="next"/> the next id the device considers (it still skips held ids).</summary>
    public static void SetNext(DeviceEndpoint device, uint next) => LastSessionId.SetValue(device, unchecked(next - 1));
}
