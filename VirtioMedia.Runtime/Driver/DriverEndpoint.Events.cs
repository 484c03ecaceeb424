using System;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Virtqueues;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Driver;

// The event queue: kept stocked, each returned buffer decoded and routed to its session.
public sealed partial class DriverEndpoint
{
    private async Task EventLoopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            while (true)
            {
                int index;
                uint written;
                try
                {
                    if (!_events.TryTakeUsed(out index, out written))
                    {
                        break;
                    }
                }
                catch (VirtqueueException error)
                {
                    Break("event", error);
                    return;
                }
                Deliver(index, written);
                SupplyEventBuffer(index);
            }
            await _transport.EventInterruptsFromDevice.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void Deliver(int index, uint written)
    {
        ReadOnlyMemory<byte> segment = _eventBuffers[index].Memory.Slice(0, (int)Math.Min(written, EventBufferSize));
        var reader = new ChainReader(new ReadOnlySpan<ReadOnlyMemory<byte>>(in segment));
        if (!EventCodec.PeekHeader(reader, out var header).IsSuccess)
        {
            Interlocked.Increment(ref _malformedEvents);
            return;
        }
        // A closed session gets nothing more, even before the device has answered its CLOSE (its streams are done).
        if (!_sessions.TryGetValue(header.session_id, out var session) || session.IsClosed)
        {
            Interlocked.Increment(ref _strayEvents);
            return;
        }
        switch (header.@event)
        {
            case Constants.VIRTIO_MEDIA_EVT_DQBUF:
                if (!EventCodec.DecodeDqbuf(ref reader, out var dqbuf).IsSuccess)
                {
                    Interlocked.Increment(ref _malformedEvents);
                    return;
                }
                // Pointer values in DQBUF events are meaningless (spec, "Dequeue buffer", driver): never pass them on.
                if (EventCodec.IsMultiplanar(dqbuf.buffer.type) || dqbuf.buffer.memory == Constants.V4L2_MEMORY_USERPTR)
                {
                    dqbuf.buffer.m.planes = 0;
                }
                Span<v4l2_plane> planes = dqbuf.planes;
                for (var i = 0; i < planes.Length; i++)
                {
                    if (dqbuf.buffer.memory == Constants.V4L2_MEMORY_USERPTR)
                    {
                        planes[i].m.userptr = 0;
                    }
                }
                session.DeliverBuffer(new DequeuedBuffer(dqbuf.buffer, dqbuf.planes));
                return;
            case Constants.VIRTIO_MEDIA_EVT_EVENT:
                if (!EventCodec.DecodeEvent(ref reader, out var message).IsSuccess)
                {
                    Interlocked.Increment(ref _malformedEvents);
                    return;
                }
                session.DeliverEvent(message.@event);
                return;
            case Constants.VIRTIO_MEDIA_EVT_ERROR:
                if (!EventCodec.DecodeError(ref reader, out var error).IsSuccess)
                {
                    Interlocked.Increment(ref _malformedEvents);
                    return;
                }
                session.OnDeviceError((int)Math.Min(error.errno, int.MaxValue));
                return;
            default:
                Interlocked.Increment(ref _malformedEvents);
                return;
        }
    }

    private void SupplyEventBuffer(int index)
    {
        Span<ChainSegment> write = [new ChainSegment(EventAddress(index), EventBufferSize)];
        if (_events.TryAdd(ReadOnlySpan<ChainSegment>.Empty, write, index, out var kick) && kick)
        {
            _transport.EventKickToDevice.Notify();
        }
    }

    private ulong EventAddress(int index) => _eventArea + (ulong)(index * EventBufferSize);
}
