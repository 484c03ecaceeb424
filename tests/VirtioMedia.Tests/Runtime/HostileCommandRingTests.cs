using System;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// The driver side against a hostile device: a raw used-ring writer forges the command queue's used entries (an id
/// the driver never made available, an id past the queue, a length beyond the chain's writable bytes, used.idx ahead
/// of what is in flight). Each gives a clear <see cref="DeviceProtocolException"/> to the waiting caller and every
/// later one, the endpoint disposes promptly, and a good device is served correctly afterwards in the same process.
/// </summary>
[TestClass]
public sealed class HostileCommandRingTests
{
    public enum Forgery
    {
        IdNotInFlight,
        IdPastTheQueue,
        LengthBeyondTheChain,
        IndexAheadOfInFlight,
    }

    [TestMethod]
    [DataRow(Forgery.IdNotInFlight, "not in flight")]
    [DataRow(Forgery.IdPastTheQueue, "not in flight")]
    [DataRow(Forgery.LengthBeyondTheChain, "writable bytes")]
    [DataRow(Forgery.IndexAheadOfInFlight, "chains are in flight")]
    public Task A_forged_used_entry_on_the_command_queue_faults_the_endpoint_clearly(Forgery forgery, string reason) => Streamer.Guard(async () =>
    {
        using (var transport = new InProcessTransport())
        {
            transport.Config = LoopbackDevice.Config;
            var driver = DriverEndpoint.Start(transport.Driver, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(30) });
            var raw = new RawDevice(transport);
            var opening = driver.OpenSessionAsync().AsTask();
            await Streamer.SpinUntil(() => raw.TryAnswerCommand(new virtio_media_resp_open { session_id = 7 }));
            var session = await opening;
            var waiting = session.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE }).AsTask();

            var layout = transport.Driver.CommandQueueLayout;
            var memory = transport.Memory;
            var available = memory.ReadUInt16Acquire(layout.AvailableIndex);
            var head = memory.ReadUInt16Acquire(layout.AvailableEntry((available - 1) % layout.Size)); // the G_FMT chain
            var used = memory.ReadUInt16Acquire(layout.UsedIndex);
            var (id, length, published) = forgery switch
            {
                Forgery.IdNotInFlight => ((uint)(head + 100) % layout.Size, 8u, 1),
                Forgery.IdPastTheQueue => ((uint)layout.Size + 5, 8u, 1),
                Forgery.LengthBeyondTheChain => (head, 0x7FFF_0000u, 1),
                _ => (head, 8u, 5),
            };
            for (var i = 0; i < published; i++)
            {
                memory.Write(layout.UsedEntry((used + i) % layout.Size), id);
                memory.Write(layout.UsedEntry((used + i) % layout.Size) + 4, length);
            }
            memory.WriteUInt16Release(layout.UsedIndex, (ushort)(used + published));
            transport.CommandInterruptToDriver.Notify();

            var error = await Assert.ThrowsExactlyAsync<DeviceProtocolException>(() => waiting);
            StringAssert.Contains(error.Message, "command queue");
            StringAssert.Contains(error.Message, reason);
            Assert.IsNotNull(driver.Fault);
            await Assert.ThrowsExactlyAsync<DeviceProtocolException>(async () => await session.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE }));
            await Assert.ThrowsExactlyAsync<DeviceProtocolException>(() => session.Events.Completion);
            await driver.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2));
        }

        // A good device afterwards: served as ever.
        await using var rig = RuntimeRig.Start();
        var good = await rig.Driver.OpenSessionAsync();
        var format = await good.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE });
        Assert.AreEqual(0, format.Status);
        Assert.AreNotEqual(0u, format.Payload.fmt.pix.width);
        Assert.IsNull(rig.Driver.Fault);
    });
}
