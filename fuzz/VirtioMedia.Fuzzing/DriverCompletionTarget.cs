using System;
using System.Threading.Channels;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Fuzzing;

/// <summary>
/// The driver side of used entries and event buffers, through the real <see cref="DriverEndpoint"/>: the input plays
/// a hostile device that answers the driver's commands and fills its event buffers with arbitrary bytes, and writes
/// the used entries itself (any id, any length). The endpoint must turn every answer into a result or a clear error
/// (<see cref="DeviceProtocolException"/>, <see cref="DeviceErrorException"/>, a timeout), never another exception
/// and never a hang.
/// </summary>
/// <remarks>
/// Input: u8 features (bit 0 VIRTIO_F_EVENT_IDX), then operations until the input ends: u8 op (0 OPEN, 1 an event,
/// 2 G_FMT on the opened session), u8 how the used entry is forged (bit 0: take its id from the input instead of the
/// real head; bit 1: take its length from the input instead of the bytes written), le32 id, le32 length, le16 n,
/// n bytes written into the chain's device-writable buffer.
/// </remarks>
public static class DriverCompletionTarget
{
    private const int MaxOperations = 16;

    private static readonly virtio_media_config Config = ConfigSpace.Create((uint)(Constants.V4L2_CAP_VIDEO_CAPTURE | Constants.V4L2_CAP_STREAMING), 0, "fuzz");

    private static readonly DriverEndpointOptions Options = new() { CommandTimeout = TimeSpan.FromMilliseconds(50), EventBuffers = 4 };

    public static void Run(byte[] data)
    {
        var input = new InputReader(data);
        var features = input.U8();
        using var transport = new InProcessTransport(guestMemorySize: 1 << 20, sharedMemorySize: 64 << 10, commandQueueSize: 16, eventQueueSize: 8, eventIndex: (features & 1) != 0);
        transport.Config = Config;
        var driver = DriverEndpoint.Start(transport.Driver, Options);
        var device = new HostileDevice(transport);
        DriverSession? session = null;
        for (var i = 0; i < MaxOperations && !input.AtEnd && driver.Fault is null; i++)
        {
            switch (input.U8() % 3)
            {
                case 0:
                    var opening = driver.OpenSessionAsync().AsTask();
                    if (device.Answer(transport.CommandQueue, transport.CommandInterruptToDriver, input))
                    {
                        session = Settle(opening) ?? session;
                    }
                    else
                    {
                        Settle(opening);
                    }
                    break;
                case 1:
                    var before = transport.Memory.ReadUInt16Acquire(transport.Driver.EventQueueLayout.AvailableIndex);
                    if (device.Answer(transport.EventQueue, transport.EventInterruptToDriver, input))
                    {
                        // The driver takes the event and supplies the buffer again, or faults.
                        Bounded.Until(() => driver.Fault is not null || transport.Memory.ReadUInt16Acquire(transport.Driver.EventQueueLayout.AvailableIndex) != before, "taking an event");
                    }
                    break;
                default:
                    if (session is null || session.IsClosed)
                    {
                        input.U8();
                        break;
                    }
                    var getting = session.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE }).AsTask();
                    device.Answer(transport.CommandQueue, transport.CommandInterruptToDriver, input);
                    Settle(getting);
                    break;
            }
            if (session is not null)
            {
                Drain(session);
            }
        }
        Bounded.Wait(driver.DisposeAsync().AsTask(), "DisposeAsync");
    }

    /// <summary>Waits for a command; what the protocol allows as a failure is fine, anything else is a finding.</summary>
    private static T? Settle<T>(Task<T> task)
        where T : class
    {
        try
        {
            if (!task.Wait(Bounded.Limit))
            {
                throw new TimeoutException("hang: a command neither completed nor timed out");
            }
            return task.Result;
        }
        catch (AggregateException error) when (error.InnerException is DeviceProtocolException or DeviceErrorException or TimeoutException or ObjectDisposedException)
        {
            return null;
        }
    }

    private static void Settle<T>(Task<IoctlResult<T>> task)
        where T : unmanaged
    {
        try
        {
            if (!task.Wait(Bounded.Limit))
            {
                throw new TimeoutException("hang: an ioctl neither completed nor timed out");
            }
        }
        catch (AggregateException error) when (error.InnerException is DeviceProtocolException or DeviceErrorException or TimeoutException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Reads what the session's streams hold; a stream ended by the device's error is fine.</summary>
    private static void Drain(DriverSession session)
    {
        while (session.DequeuedBuffers.TryRead(out _))
        {
        }
        while (session.Events.TryRead(out _))
        {
        }
        if (session.DequeuedBuffers.Completion is { IsFaulted: true } ended && ended.Exception!.InnerException is not (DeviceProtocolException or DeviceErrorException or ChannelClosedException))
        {
            throw ended.Exception;
        }
    }

    /// <summary>Pops the driver's chains and answers them with the fuzzer's bytes and used entries.</summary>
    private sealed class HostileDevice(InProcessTransport transport)
    {
        private readonly ushort[] _used = new ushort[2];

        public bool Answer(DeviceQueue queue, INotifier interrupt, InputReader input)
        {
            var forge = input.U8();
            var id = input.U32();
            var length = input.U32();
            var count = input.U16();
            DescriptorChain? chain = null;
            Bounded.Until(() => queue.TryPop(out chain) || queue.NeedsReset, "the driver making a chain available");
            if (chain is null)
            {
                return false;
            }
            var segment = chain.Writable.Count > 0 ? chain.Writable[0] : default;
            var written = input.Fill(transport.Memory.GetSpan(segment.Address, Math.Min(segment.Length, count)));
            var memory = transport.Memory;
            var layout = queue.Layout;
            var which = queue == transport.CommandQueue ? 0 : 1;
            var slot = _used[which] % layout.Size;
            memory.Write(layout.UsedEntry(slot), (forge & 1) != 0 ? id : chain.Head);
            memory.Write(layout.UsedEntry(slot) + 4, (forge & 2) != 0 ? length : (uint)written);
            _used[which]++;
            memory.WriteUInt16Release(layout.UsedIndex, _used[which]);
            interrupt.Notify();
            return true;
        }
    }
}
