using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Virtqueues;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Driver;

// Command submission: slots (rented, staged, matched to their answers by token), ioctls, timeouts and the completion loop.
public sealed partial class DriverEndpoint
{
    /// <summary>VIRTIO_MEDIA_CMD_IOCTL for <paramref name="session"/>.</summary>
    /// <remarks>
    /// With a free command slot (the usual case) nothing is allocated: the request is staged and queued here, and
    /// the returned task is the slot itself, whose <c>GetResult</c> decodes the answer (<see cref="FinishIoctl"/>).
    /// Errors are reported through the returned task, as from an async method.
    /// </remarks>
    internal ValueTask<int> InvokeAsync(DriverSession session, IoctlDescriptor ioctl, Memory<byte> payload, IoctlExtras? extras, CancellationToken cancellationToken)
        => Invoke(session, ioctl, payload, extras, cancellationToken, out _);

    /// <summary>A typed VIRTIO_MEDIA_CMD_IOCTL (<see cref="ITypedIoctlInvoker"/>): allocation-free as well, and the
    /// caller's continuation is registered on the command slot itself.</summary>
    internal ValueTask<IoctlResult<TPayload>> InvokeAsync<TPayload>(DriverSession session, IoctlDescriptor ioctl, in TPayload payload, IoctlExtras? extras, CancellationToken cancellationToken)
        where TPayload : unmanaged
    {
        var call = TypedIoctlCall<TPayload>.Rent(in payload);
        var pending = Invoke(session, ioctl, call.Payload, extras, cancellationToken, out var slot);
        return call.Track(pending, slot);
    }

    // pendingSlot: the slot the returned task stands for, when it is a slot's completion (typed calls forward to it).
    private ValueTask<int> Invoke(DriverSession session, IoctlDescriptor ioctl, Memory<byte> payload, IoctlExtras? extras, CancellationToken cancellationToken, out CommandSlot? pendingSlot)
    {
        pendingSlot = null;
        CommandSlot? slot;
        try
        {
            // Cancelled already: nothing is sent (a token cancelled later abandons the command in flight instead).
            cancellationToken.ThrowIfCancellationRequested();
            ThrowIfFaulted();
            slot = TryRentSlot();
        }
        catch (Exception error)
        {
            return ValueTask.FromException<int>(error);
        }
        if (slot is null)
        {
            return InvokeWhenSlotFreeAsync(session, ioctl, payload, extras, cancellationToken);
        }
        var pending = StartIoctl(slot, session, ioctl, payload, extras, cancellationToken);
        if (!pending.IsCompleted)
        {
            pendingSlot = slot;
        }
        return pending;
    }

    /// <summary>Every slot is in flight: waits for one (bounded by the command timeout), then proceeds as usual.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> InvokeWhenSlotFreeAsync(DriverSession session, IoctlDescriptor ioctl, Memory<byte> payload, IoctlExtras? extras, CancellationToken cancellationToken)
    {
        var slot = await RentSlotAsync(0, 0, cancellationToken).ConfigureAwait(false);
        return await StartIoctl(slot, session, ioctl, payload, extras, cancellationToken).ConfigureAwait(false);
    }

    private ValueTask<int> StartIoctl(CommandSlot slot, DriverSession session, IoctlDescriptor ioctl, Memory<byte> payload, IoctlExtras? extras, CancellationToken cancellationToken)
    {
        uint requestLength;
        uint responseRoom;
        try
        {
            var message = slot.Message;
            message.Reset(ioctl, session.Id);
            if (ioctl.IsDeviceReadable)
            {
                payload.Span.CopyTo(message.Payload);
                StageTrailers(message, extras);
            }
            var elementSize = message.Rule?.Array?.ElementSize ?? 0;
            var readable = 16 + message.Payload.Length + message.Elements.Length + message.SgEntryCount * 16 + message.Uuids.Length;
            var writable = 8 + (ioctl.IsDeviceWritable ? ioctl.PayloadSize + message.ElementCount * elementSize + message.UuidCount * IoctlMessage.UuidSize : 0);
            if (!slot.TryEnsureCapacity(_transport.Memory, _heap, readable, writable))
            {
                throw new InvalidOperationException("driver memory exhausted");
            }
            var writer = slot.RequestWriter();
            var encoded = IoctlCodec.EncodeRequest(message, ref writer);
            if (!encoded.IsSuccess)
            {
                throw new ArgumentException($"{ioctl.Name}: {encoded.Reason}", nameof(extras));
            }
            requestLength = (uint)writer.Written;
            responseRoom = (uint)writable;
            slot.BindIoctl(ioctl, payload, extras, _finishIoctl);
            ThrowIfFaulted();
            if (!TrySubmit(slot, requestLength, responseRoom))
            {
                throw new InvalidOperationException("command queue full");
            }
        }
        catch (Exception error)
        {
            ReturnSlot(slot);
            return ValueTask.FromException<int>(error);
        }
        // Taken before the registration: a cancellation that fires at once completes this very version.
        var completion = slot.IoctlCompletion;
        slot.AbandonOn(cancellationToken);
        return completion;
    }

    /// <summary>The device answered an ioctl (runs in the caller's <c>GetResult</c>): decodes, copies the payload
    /// and trailers back to the caller, and frees the slot.</summary>
    private int FinishIoctl(CommandSlot slot, uint written)
    {
        try
        {
            var ioctl = slot.Ioctl!;
            var message = slot.Message;
            var reader = slot.ResponseReader(written);
            var decoded = IoctlCodec.DecodeResponse(ref reader, message, out var status);
            ThrowIfBroken(decoded, ioctl.Name);
            // An error answer of the header alone means the payload is unmodified (spec, "V4L2 ioctls", driver).
            if (ioctl.IsDeviceWritable && !(status != 0 && written <= 8))
            {
                message.Payload.CopyTo(slot.CallerPayload.Span);
                if (slot.CallerExtras is { } extras)
                {
                    message.Elements.CopyTo(extras.Elements.Span);
                    message.Uuids.CopyTo(extras.Uuids.Span);
                }
            }
            return status;
        }
        finally
        {
            ReturnSlot(slot);
        }
    }

    private void StageTrailers(IoctlMessage message, IoctlExtras? extras)
    {
        if (message.Rule is not { } rule || extras is null)
        {
            return;
        }
        var payload = message.Payload;
        var count = 0;
        var arrayActive = rule.Array is { } array && array.When.Matches(payload);
        if (arrayActive)
        {
            var claimed = BinaryPrimitives.ReadUInt32LittleEndian(payload.Slice(rule.Array!.CountOffset));
            if (claimed > (uint)rule.Array.MaxCount || claimed * (ulong)rule.Array.ElementSize > (ulong)extras.Elements.Length)
            {
                throw new ArgumentException($"the payload claims {claimed} elements; the extras hold {extras.Elements.Length / rule.Array.ElementSize}", nameof(extras));
            }
            count = (int)claimed;
            message.ElementCount = count;
            extras.Elements.Span.Slice(0, message.Elements.Length).CopyTo(message.Elements);
        }
        if (rule.Sg is not null && !extras.SgEntries.IsEmpty)
        {
            if (extras.SgEntries.Length > message.SgCapacity)
            {
                throw new ArgumentException($"more than {message.SgCapacity} SG entries", nameof(extras));
            }
            message.SgEntryCount = extras.SgEntries.Length;
            extras.SgEntries.Span.CopyTo(message.SgEntries);
        }
        if (rule.Uuid is { } uuid && uuid.When.Matches(payload))
        {
            var uuids = arrayActive ? count : 1;
            if (extras.Uuids.Length < uuids * IoctlMessage.UuidSize)
            {
                throw new ArgumentException($"{uuids} UUIDs needed", nameof(extras));
            }
            message.UuidCount = uuids;
            extras.Uuids.Span.Slice(0, message.Uuids.Length).CopyTo(message.Uuids);
        }
    }

    private async ValueTask<CommandSlot> RentSlotAsync(int readable, int writable, CancellationToken cancellationToken)
    {
        ThrowIfFaulted();
        if (_inFlight.Wait(0))
        {
            return TakeSlot(readable, writable);
        }
        // Every slot is the device's: wait for one, but a disposal ends the wait at once (no caller outlives the endpoint).
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        bool rented;
        try
        {
            rented = await _inFlight.WaitAsync(_options.CommandTimeout, waiting.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException(nameof(DriverEndpoint), "the driver endpoint was disposed while the command waited for a slot");
        }
        if (!rented)
        {
            throw new TimeoutException($"no command slot freed within {_options.CommandTimeout}: the device is not answering");
        }
        if (_stop.IsCancellationRequested)
        {
            _inFlight.Release();
            ThrowIfFaulted();
        }
        return TakeSlot(readable, writable);
    }

    /// <summary>A slot at once when fewer than the queue allows are in flight, else null (nothing waits).</summary>
    private CommandSlot? TryRentSlot() => _inFlight.Wait(0) ? TakeSlot(0, 0) : null;

    /// <summary>Takes a pooled slot (or makes one) for a command already counted in flight.</summary>
    private CommandSlot TakeSlot(int readable, int writable)
    {
        if (!_slotPool.TryRent(out var slot))
        {
            slot = new CommandSlot();
            lock (_allSlots)
            {
                _allSlots.Add(slot);
            }
        }
        if (!slot.TryEnsureCapacity(_transport.Memory, _heap, Math.Max(readable, 1), Math.Max(writable, 8)))
        {
            _slotPool.Return(slot);
            _inFlight.Release();
            throw new InvalidOperationException("driver memory exhausted");
        }
        return slot;
    }

    private void ReturnSlot(CommandSlot slot)
    {
        slot.MarkIdle();
        _slotPool.Return(slot);
        _inFlight.Release();
    }

    private async ValueTask<uint> SendAsync(CommandSlot slot, uint readable, uint writable, CancellationToken cancellationToken)
    {
        ThrowIfFaulted();
        if (!TrySubmit(slot, readable, writable))
        {
            ReturnSlot(slot);
            throw new InvalidOperationException("command queue full");
        }
        if (!cancellationToken.CanBeCanceled)
        {
            return await slot.Completion.ConfigureAwait(false);
        }
        using (cancellationToken.UnsafeRegister(static (state, token) => ((CommandSlot)state!).Abandon(new OperationCanceledException(token)), slot))
        {
            return await slot.Completion.ConfigureAwait(false);
        }
    }

    /// <summary>Puts the slot's chain (<paramref name="readable"/> request bytes, room for <paramref name="writable"/>
    /// response bytes) on the command queue. Returns false when the queue is full; the slot was never handed to
    /// the device then, and the caller frees it.</summary>
    private bool TrySubmit(CommandSlot slot, uint readable, uint writable)
    {
        slot.Begin(Environment.TickCount64 + _timeoutTicks);
        Span<ChainSegment> read = [new ChainSegment(slot.ReadableAddress, readable)];
        Span<ChainSegment> write = [new ChainSegment(slot.WritableAddress, writable)];
        if (!_commands.TryAdd(read, write, slot, out var kick))
        {
            return false;
        }
        if (kick)
        {
            _transport.CommandKickToDevice.Notify();
        }
        return true;
    }

    private void ExpireOverdue()
    {
        var now = Environment.TickCount64;
        lock (_allSlots)
        {
            foreach (var slot in _allSlots)
            {
                if (slot.IsOverdue(now))
                {
                    slot.Abandon(new TimeoutException($"the device did not answer within {_options.CommandTimeout}"));
                }
            }
        }
    }

    private void FailAll(Exception error)
    {
        lock (_allSlots)
        {
            foreach (var slot in _allSlots)
            {
                slot.Abandon(error);
            }
        }
    }

    private async Task CommandCompletionLoopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            while (true)
            {
                CommandSlot slot;
                uint written;
                try
                {
                    if (!_commands.TryTakeUsed(out slot, out written))
                    {
                        break;
                    }
                }
                catch (VirtqueueException error)
                {
                    Break("command", error);
                    return;
                }
                if (slot.OnUsed(written))
                {
                    // A command that timed out came back at last: its slot is free again.
                    _slotPool.Return(slot);
                    _inFlight.Release();
                }
            }
            await _transport.CommandInterruptsFromDevice.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
