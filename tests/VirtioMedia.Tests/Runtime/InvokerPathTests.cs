using System;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// The two ways into a session's ioctl path: the untyped <see cref="IIoctlInvoker.InvokeAsync"/> (payload updated in
/// place) and the typed one the generated calls take (<see cref="ITypedIoctlInvoker"/>), including cancellation, after
/// which the command's slot must come back into service once the device answers.
/// </summary>
[TestClass]
public sealed class InvokerPathTests
{
    [TestMethod]
    public Task Untyped_invoke_updates_the_payload_in_place_and_leaves_it_on_an_error() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start(_ => new LoopbackDevice());
        var session = await rig.Driver.OpenSessionAsync();
        var payload = new byte[Unsafe.SizeOf<v4l2_format>()];
        MemoryMarshal.Write(payload, new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE });
        Assert.AreEqual(0, await ((IIoctlInvoker)session).InvokeAsync(Ioctls.VIDIOC_G_FMT.Descriptor, payload, null, CancellationToken.None));
        Assert.AreEqual(64u * 48, MemoryMarshal.Read<v4l2_format>(payload).fmt.pix.sizeimage, "the device's answer was copied back");

        // LoopbackDevice does not implement G_INPUT: ENOTTY, answered with the header alone, and the payload stays.
        var input = new byte[sizeof(int)];
        MemoryMarshal.Write(input, 0x5A5A5A5A);
        Assert.AreEqual(Constants.ENOTTY, await ((IIoctlInvoker)session).InvokeAsync(Ioctls.VIDIOC_G_INPUT.Descriptor, input, null, CancellationToken.None));
        Assert.AreEqual(0x5A5A5A5A, MemoryMarshal.Read<int>(input));
    });

    [TestMethod]
    public Task Typed_invoke_checks_the_payload_size() => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start(_ => new LoopbackDevice());
        var session = await rig.Driver.OpenSessionAsync();
        Assert.ThrowsExactly<ArgumentException>(() => session.InvokeAsync(Ioctls.VIDIOC_G_FMT.Descriptor, 0, null, CancellationToken.None));
        var typed = await session.InvokeAsync(Ioctls.VIDIOC_G_FMT.Descriptor, new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE }, null, CancellationToken.None);
        Assert.AreEqual(0, typed.Status);
        Assert.AreEqual(64u, typed.Payload.fmt.pix.width);
    });

    [TestMethod]
    public Task A_call_cancelled_before_it_starts_sends_nothing() => Streamer.Guard(async () =>
    {
        using var release = new ManualResetEventSlim(true);
        var device = new GateDevice(release);
        await using var rig = RuntimeRig.Start(_ => device);
        var session = await rig.Driver.OpenSessionAsync();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsExactlyAsync<OperationCanceledException>(async () => await session.VIDIOC_G_FMT(new v4l2_format(), cancellationToken: cancelled.Token));
        Assert.AreEqual(0, device.Calls);
    });

    [TestMethod]
    public Task Calls_cancelled_in_flight_fail_and_their_slots_come_back_into_service() => Streamer.Guard(async () =>
    {
        using var release = new ManualResetEventSlim(false);
        var device = new GateDevice(release);
        await using var rig = RuntimeRig.Start(_ => device);
        var session = await rig.Driver.OpenSessionAsync();
        using var cancellation = new CancellationTokenSource();
        // More calls than there are command slots (a queue of 256 descriptors, 2 per command): the device holds the
        // first, so all are in flight or waiting for a slot when the token fires.
        var calls = Enumerable.Range(0, 200).Select(_ => session.VIDIOC_G_FMT(new v4l2_format(), cancellationToken: cancellation.Token).AsTask()).ToArray();
        await Streamer.SpinUntil(() => device.Calls == 1);
        await cancellation.CancelAsync();
        foreach (var call in calls)
        {
            await Assert.ThrowsAsync<OperationCanceledException>(async () => await call);
        }
        // The device answers the abandoned commands now; their slots must come back, or the calls below would find
        // none free and time out.
        release.Set();
        for (var i = 0; i < 300; i++)
        {
            Assert.AreEqual(0, (await session.VIDIOC_G_FMT(new v4l2_format())).Status);
        }
        Assert.IsTrue(device.Calls > 300);
    }, seconds: 30);

    /// <summary>Answers G_FMT once <c>release</c> is set (bounded), counting the calls.</summary>
    private sealed class GateDevice(ManualResetEventSlim release) : V4l2DeviceHandler<DeviceIoctlContext>
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload)
        {
            Interlocked.Increment(ref _calls);
            release.Wait(TimeSpan.FromSeconds(10));
            return 0;
        }
    }
}
