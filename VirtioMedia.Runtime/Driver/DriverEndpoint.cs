using System;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Pooling;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Driver;

/// <summary>
/// The driver side of virtio-media: reads the configuration, opens sessions, sends commands (many in flight,
/// matched to their answers by the used-ring token), keeps the event queue stocked and routes events to their
/// sessions, maps MMAP buffers and builds SHARED_PAGES buffers. The device is untrusted: every length, count,
/// offset and id it answers is checked, and a device that stops answering makes commands fail with
/// <see cref="TimeoutException"/>.
/// </summary>
public sealed class DriverEndpoint : IAsyncDisposable
{
    private const int EventBufferSize = 640; // virtio_media_event_dqbuf (608), the largest event, rounded up

    private readonly IDriverTransport _transport;
    private readonly DriverEndpointOptions _options;
    private readonly DriverQueue<CommandSlot> _commands;
    private readonly DriverQueue<int> _events;
    private readonly RangeAllocator _heap;
    private readonly SemaphoreSlim _inFlight;
    private readonly ObjectPool<CommandSlot> _slotPool = new();
    private readonly Func<CommandSlot, uint, int> _finishIoctl;
    private readonly List<CommandSlot> _allSlots = new();
    private readonly ConcurrentDictionary<uint, DriverSession> _sessions = new();
    private readonly List<MappedBuffer> _mapped = new();
    private readonly Action<ulong, ulong> _onSharedMemoryUnmapped;
    private readonly NativeMemoryManager[] _eventBuffers;
    private readonly ulong _eventArea;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loops;
    private readonly Timer _watchdog;
    private readonly long _timeoutTicks;
    private DeviceProtocolException? _fault;
    private long _malformedEvents;
    private long _strayEvents;

    private DriverEndpoint(IDriverTransport transport, DriverEndpointOptions options)
    {
        _transport = transport;
        _options = options;
        _finishIoctl = FinishIoctl;
        _onSharedMemoryUnmapped = OnSharedMemoryUnmapped;
        Config = transport.ReadConfig();
        _commands = new DriverQueue<CommandSlot>(transport.Memory, transport.CommandQueueLayout, transport.EventIndex);
        _events = new DriverQueue<int>(transport.Memory, transport.EventQueueLayout, transport.EventIndex);
        _heap = new RangeAllocator(transport.BufferArea.Start, transport.BufferArea.Length, SharedPagesBuffer.PageSize);
        // Every command is a chain of two descriptors (device-readable, device-writable).
        _inFlight = new SemaphoreSlim(transport.CommandQueueLayout.Size / 2);
        _timeoutTicks = (long)options.CommandTimeout.TotalMilliseconds;

        var eventCount = Math.Min(options.EventBuffers, (int)transport.EventQueueLayout.Size);
        if (eventCount <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "at least one event buffer is needed");
        }
        if (!_heap.TryAllocate((ulong)(eventCount * EventBufferSize), out _eventArea))
        {
            throw new InvalidOperationException("driver memory too small for the event buffers");
        }
        _eventBuffers = new NativeMemoryManager[eventCount];
        for (var i = 0; i < eventCount; i++)
        {
            _eventBuffers[i] = new NativeMemoryManager();
            _eventBuffers[i].Reset(transport.Memory.GetSpan(EventAddress(i), EventBufferSize));
            SupplyEventBuffer(i);
        }
        var period = TimeSpan.FromMilliseconds(Math.Clamp(options.CommandTimeout.TotalMilliseconds / 4, 5, 250));
        _watchdog = new Timer(static state => ((DriverEndpoint)state!).ExpireOverdue(), this, period, period);
        if (transport is ISharedMemoryUnmapSource unmaps)
        {
            unmaps.SharedMemoryUnmapped += _onSharedMemoryUnmapped;
        }
        var token = _stop.Token;
        _loops = Task.WhenAll(
            Task.Run(() => CommandCompletionLoopAsync(token), CancellationToken.None),
            Task.Run(() => EventLoopAsync(token), CancellationToken.None));
    }

    /// <summary>Sets the queues up, stocks the event queue and starts serving completions.</summary>
    public static DriverEndpoint Start(IDriverTransport transport, DriverEndpointOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        return new DriverEndpoint(transport, options ?? new DriverEndpointOptions());
    }

    /// <summary>The device configuration read at start.</summary>
    public virtio_media_config Config { get; }

    /// <summary>The card name from the configuration.</summary>
    public string Card => ConfigSpace.Card(Config);

    /// <summary>The driver's memory (where SHARED_PAGES buffers live).</summary>
    public GuestMemory Memory => _transport.Memory;

    /// <summary>Events dropped because they were malformed (short, unknown type, impossible counts).</summary>
    public long MalformedEvents => Interlocked.Read(ref _malformedEvents);

    /// <summary>Events for sessions the driver does not have open (dropped).</summary>
    public long StrayEvents => Interlocked.Read(ref _strayEvents);

    /// <summary>
    /// Why the endpoint is unusable: the device broke the command or the event queue (a used entry for a chain not in
    /// flight, more used entries than chains in flight, a length beyond the chain's writable bytes). Null while healthy.
    /// Once set, every call throws it wrapped, waiting commands fail with it, and session streams end with it.
    /// </summary>
    public DeviceProtocolException? Fault => Volatile.Read(ref _fault);

    /// <summary>How many sessions are open.</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>How many command chains the device holds (answered or not by their callers: a command that timed
    /// out keeps its chain until the device returns it).</summary>
    public int CommandsInFlight => (int)(_commands.Layout.Size / 2) - _inFlight.CurrentCount;

    /// <summary>VIRTIO_MEDIA_CMD_OPEN: opens a new session.</summary>
    public async ValueTask<DriverSession> OpenSessionAsync(CancellationToken cancellationToken = default)
    {
        var slot = await RentSlotAsync(16, 16, cancellationToken).ConfigureAwait(false);
        var writer = slot.RequestWriter();
        CommandCodec.EncodeOpen(ref writer);
        var written = await SendAsync(slot, (uint)writer.Written, 16, cancellationToken).ConfigureAwait(false);
        var reader = slot.ResponseReader(written);
        var decoded = CommandCodec.DecodeResponse(ref reader, out virtio_media_resp_open response, out var status);
        ReturnSlot(slot);
        ThrowIfBroken(decoded, "OPEN");
        if (status != 0)
        {
            throw new DeviceErrorException("the device refused to open a session", status);
        }
        var session = new DriverSession(this, response.session_id);
        if (!_sessions.TryAdd(response.session_id, session))
        {
            throw new DeviceProtocolException($"the device answered session id {response.session_id}, which is already open");
        }
        return session;
    }

    /// <summary>VIRTIO_MEDIA_CMD_MUNMAP: unmaps a buffer mapped with <see cref="DriverSession.MapAsync"/>.</summary>
    public async ValueTask UnmapAsync(MappedBuffer buffer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.IsUnmapped)
        {
            throw new ObjectDisposedException(nameof(MappedBuffer));
        }
        buffer.IsUnmapped = true;
        lock (_mapped)
        {
            _mapped.Remove(buffer);
        }
        var slot = await RentSlotAsync(16, 8, cancellationToken).ConfigureAwait(false);
        var writer = slot.RequestWriter();
        CommandCodec.EncodeMunmap(ref writer, buffer.DriverAddress);
        var written = await SendAsync(slot, (uint)writer.Written, 8, cancellationToken).ConfigureAwait(false);
        var reader = slot.ResponseReader(written);
        var decoded = CommandCodec.DecodeResponse(ref reader, out virtio_media_resp_munmap _, out var status);
        ReturnSlot(slot);
        ThrowIfBroken(decoded, "MUNMAP");
        if (status != 0)
        {
            throw new DeviceErrorException("MUNMAP failed", status);
        }
    }

    /// <summary>Allocates a SHARED_PAGES buffer of <paramref name="length"/> bytes in driver memory, one SG entry per page.</summary>
    public SharedPagesBuffer AllocateSharedPages(uint length)
    {
        if (length == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length));
        }
        var pages = (int)((length + SharedPagesBuffer.PageSize - 1) / SharedPagesBuffer.PageSize);
        var entries = new virtio_media_sg_entry[pages];
        var remaining = length;
        for (var i = 0; i < pages; i++)
        {
            if (!_heap.TryAllocate(SharedPagesBuffer.PageSize, out var page))
            {
                for (var j = 0; j < i; j++)
                {
                    _heap.Free(entries[pages - 1 - j].start, SharedPagesBuffer.PageSize);
                }
                throw new InvalidOperationException("driver memory exhausted");
            }
            // Listed back to front: consecutive entries are never adjacent in memory.
            entries[pages - 1 - i].start = page;
        }
        for (var i = 0; i < pages; i++)
        {
            entries[i].len = Math.Min(remaining, SharedPagesBuffer.PageSize);
            remaining -= entries[i].len;
        }
        return new SharedPagesBuffer(_transport.Memory, _heap, entries, length);
    }

    /// <summary>Stops serving completions and events; commands still in flight fail.</summary>
    public async ValueTask DisposeAsync()
    {
        await _watchdog.DisposeAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loops.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        // Loops stopped: no completion can race these. Every waiting command fails, every session's streams end
        // with the reason, and only then are the mappings revoked (no command can still hand one out).
        FailAll(new ObjectDisposedException(nameof(DriverEndpoint), "the driver endpoint was disposed before the device answered"));
        var ended = new ObjectDisposedException(nameof(DriverEndpoint), "the driver endpoint was disposed; the session is gone");
        foreach (var session in _sessions.Values)
        {
            session.Complete(ended);
        }
        _sessions.Clear();
        RevokeAllMappings();
    }

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

    /// <summary>VIRTIO_MEDIA_CMD_MMAP for <paramref name="session"/>.</summary>
    internal async ValueTask<MappedBuffer> MapAsync(DriverSession session, uint memOffset, bool writable, CancellationToken cancellationToken)
    {
        var slot = await RentSlotAsync(24, 24, cancellationToken).ConfigureAwait(false);
        var writer = slot.RequestWriter();
        CommandCodec.EncodeMmap(ref writer, session.Id, writable ? (uint)Constants.VIRTIO_MEDIA_MMAP_FLAG_RW : 0, memOffset);
        var written = await SendAsync(slot, (uint)writer.Written, 24, cancellationToken).ConfigureAwait(false);
        var reader = slot.ResponseReader(written);
        var decoded = CommandCodec.DecodeResponse(ref reader, out virtio_media_resp_mmap response, out var status);
        ReturnSlot(slot);
        ThrowIfBroken(decoded, "MMAP");
        if (status != 0)
        {
            throw new DeviceErrorException($"MMAP of offset 0x{memOffset:X} failed", status);
        }
        var region = _transport.SharedMemory;
        if (response.len == 0 || response.driver_addr > region.Length || response.len > region.Length - response.driver_addr || response.len > int.MaxValue)
        {
            throw new DeviceProtocolException($"MMAP answered [0x{response.driver_addr:X}, +{response.len}), outside shared memory region 0 of {region.Length} bytes");
        }
        var buffer = new MappedBuffer(region, response.driver_addr, response.len);
        lock (_mapped)
        {
            _mapped.Add(buffer);
        }
        return buffer;
    }

    /// <summary>The device took [offset, +length) of region 0 back (the transport left zero pages there): every
    /// buffer mapped there is revoked, so its next access fails with a reason instead of reading zeros.</summary>
    private void OnSharedMemoryUnmapped(ulong offset, ulong length)
    {
        lock (_mapped)
        {
            for (var i = _mapped.Count - 1; i >= 0; i--)
            {
                if (_mapped[i].Overlaps(offset, length))
                {
                    _mapped[i].Revoke($"the device unmapped [0x{offset:X}, +{length}) of shared memory region 0, where this buffer was mapped at 0x{_mapped[i].DriverAddress:X}; its contents are gone");
                    _mapped.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>Revokes every buffer still mapped (the endpoint is gone; nothing can MUNMAP them any more).</summary>
    private void RevokeAllMappings()
    {
        if (_transport is ISharedMemoryUnmapSource unmaps)
        {
            unmaps.SharedMemoryUnmapped -= _onSharedMemoryUnmapped;
        }
        lock (_mapped)
        {
            foreach (var buffer in _mapped)
            {
                buffer.Revoke("the driver endpoint was disposed while this buffer was mapped");
            }
            _mapped.Clear();
        }
    }

    /// <summary>VIRTIO_MEDIA_CMD_CLOSE for <paramref name="session"/> (already marked closed).</summary>
    internal async ValueTask CloseAsync(DriverSession session, CancellationToken cancellationToken)
    {
        try
        {
            var slot = await RentSlotAsync(16, 8, cancellationToken).ConfigureAwait(false);
            var writer = slot.RequestWriter();
            CommandCodec.EncodeClose(ref writer, session.Id);
            await SendAsync(slot, (uint)writer.Written, 8, cancellationToken).ConfigureAwait(false);
            ReturnSlot(slot);
        }
        finally
        {
            _sessions.TryRemove(new KeyValuePair<uint, DriverSession>(session.Id, session));
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
            _transport.CommandKick.Notify();
        }
        return true;
    }

    private static void ThrowIfBroken(WireResult decoded, string command)
    {
        if (!decoded.IsSuccess)
        {
            throw new DeviceProtocolException($"{command}: the device's answer is malformed: {decoded.Reason}");
        }
    }

    /// <summary>
    /// The device broke a queue: the endpoint is unusable. Recorded first, so every later call throws; then every
    /// command waiting fails and every session's buffer and event streams end with the error, so an application
    /// reading them learns it instead of waiting for events that will never come.
    /// </summary>
    private void Break(string queue, VirtqueueException violation)
    {
        var error = new DeviceProtocolException($"the device broke the {queue} queue: {violation.Message}", violation);
        Interlocked.CompareExchange(ref _fault, error, null);
        FailAll(error);
        foreach (var session in _sessions.Values)
        {
            session.Complete(error);
        }
    }

    private void ThrowIfFaulted()
    {
        if (Volatile.Read(ref _fault) is { } fault)
        {
            throw new DeviceProtocolException("the device broke the queue protocol; the endpoint is unusable", fault);
        }
        ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
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
            await _transport.CommandInterrupts.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

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
            await _transport.EventInterrupts.WaitAsync(cancellationToken).ConfigureAwait(false);
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
            _transport.EventKick.Notify();
        }
    }

    private ulong EventAddress(int index) => _eventArea + (ulong)(index * EventBufferSize);
}
