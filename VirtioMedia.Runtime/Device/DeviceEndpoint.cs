using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Pooling;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// The device side of virtio-media: serves the command queue of an <see cref="IDeviceTransport"/>, keeps the
/// sessions, hands each ioctl to the session's <see cref="V4l2DeviceHandler{TContext}"/>, serves MMAP and MUNMAP
/// over shared memory region 0 and delivers events on the event queue. Commands of one session run in order;
/// commands of different sessions run concurrently, with no device-wide lock. Nothing the driver sends makes it
/// throw or hang: malformed commands are answered with an errno.
/// </summary>
public sealed class DeviceEndpoint : IAsyncDisposable
{
    private readonly Func<DeviceSession, V4l2DeviceHandler<DeviceIoctlContext>> _handlerFactory;
    private readonly ConcurrentDictionary<uint, DeviceSession> _sessions = new();
    private readonly object _sessionGate = new();
    private readonly ObjectPool<DeviceCommand> _commandPool = new();
    private readonly ConcurrentQueue<PendingEvent> _pendingEvents = new();
    private readonly object _eventGate = new();
    private readonly DeviceCommand _eventCommand = new();
    private readonly v4l2_plane[] _planeScratch = new v4l2_plane[Constants.VIRTIO_MEDIA_MAX_PLANES];
    private v4l2_event _eventScratch;
    private DescriptorChain? _spareEventChain;
    private uint _lastSessionId;
    private bool _stopping;
    private bool _stopped;
    private int _heldEvents;
    private int _executing;
    private PendingEvent _nextEvent;
    private bool _hasNextEvent;
    private DeviceQueue? _commandQueue;
    private DeviceQueue? _eventQueue;
    private CancellationTokenSource? _stop;
    private Task _loops = Task.CompletedTask;
    private long _unknownSessionCommands;
    private long _protocolErrors;
    private long _droppedEvents;
    private long _handlerFaults;
    private long _refusedOpens;
    private long _cancelledCommands;

    /// <summary>Prepares an endpoint; <see cref="Start"/> begins serving.</summary>
    /// <param name="transport">Guest memory, the queues, the doorbells and shared memory region 0.</param>
    /// <param name="config">The configuration layout (see <see cref="ConfigSpace.Create"/>).</param>
    /// <param name="handlerFactory">Creates the handler of a newly opened session; a handler that is
    /// <see cref="IDisposable"/> is disposed when its session closes.</param>
    /// <param name="objects">The virtio object registry, shared with other devices to pass buffers; a private one when null.</param>
    /// <param name="options">The bounds on what a driver can make the endpoint hold; the documented defaults when null.</param>
    public DeviceEndpoint(IDeviceTransport transport, virtio_media_config config, Func<DeviceSession, V4l2DeviceHandler<DeviceIoctlContext>> handlerFactory, VirtioObjectRegistry? objects = null, DeviceEndpointOptions? options = null)
    {
        Transport = transport ?? throw new ArgumentNullException(nameof(transport));
        _handlerFactory = handlerFactory ?? throw new ArgumentNullException(nameof(handlerFactory));
        Options = options ?? new DeviceEndpointOptions();
        Options.Validate();
        Config = config;
        Mmap = new MmapAllocator(transport.SharedMemory);
        Objects = objects ?? new VirtioObjectRegistry();
    }

    /// <summary>The bounds the endpoint keeps.</summary>
    public DeviceEndpointOptions Options { get; }

    /// <summary>The configuration layout the driver reads.</summary>
    public virtio_media_config Config { get; }

    /// <summary>The transport served.</summary>
    public IDeviceTransport Transport { get; }

    /// <summary>The MMAP buffer allocator over shared memory region 0.</summary>
    public MmapAllocator Mmap { get; }

    /// <summary>
    /// Whether shared memory region 0 exists (has a length): without it the driver cannot map MMAP buffers, so a
    /// device should not accept V4L2_MEMORY_MMAP (a transport reports a missing region as one of length 0).
    /// </summary>
    public bool SharedMemoryAvailable => Transport.SharedMemory is { Length: > 0 };

    /// <summary>The virtio object registry.</summary>
    public VirtioObjectRegistry Objects { get; }

    /// <summary>How many sessions hold an id (open or errored).</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Commands that named a session that is not open (answered ENOENT).</summary>
    public long UnknownSessionCommands => Interlocked.Read(ref _unknownSessionCommands);

    /// <summary>Chains that broke the ring rules.</summary>
    public long ProtocolErrors => Interlocked.Read(ref _protocolErrors);

    /// <summary>Events dropped: their session closed first, or the driver's event buffer was too small.</summary>
    public long DroppedEvents => Interlocked.Read(ref _droppedEvents);

    /// <summary>Handler calls that threw (answered EIO).</summary>
    public long HandlerFaults => Interlocked.Read(ref _handlerFaults);

    /// <summary>OPENs refused because <see cref="DeviceEndpointOptions.MaxSessions"/> sessions held an id (answered ENOMEM).</summary>
    public long RefusedOpens => Interlocked.Read(ref _refusedOpens);

    /// <summary>Commands taken from the ring but not yet started when the endpoint stopped (answered ENODEV).</summary>
    public long CancelledCommands => Interlocked.Read(ref _cancelledCommands);

    /// <summary>Events held until the driver supplies event buffers (at most <see cref="DeviceEndpointOptions.MaxHeldEvents"/>
    /// DQBUF and EVENT events, plus at most one ERROR event a session).</summary>
    public int HeldEvents => Volatile.Read(ref _heldEvents);

    /// <summary>Whether a queue the driver corrupted is broken and serves nothing more until the device is
    /// reset: what virtio reports as DEVICE_NEEDS_RESET (virtio 1.2, 2.1 "Device Status Field").</summary>
    public bool NeedsReset => Transport.CommandQueue.NeedsReset || Transport.EventQueue.NeedsReset;

    /// <summary>Why a queue broke (the command queue's error first), or null while both serve.</summary>
    public VirtqueueException? QueueError => Transport.CommandQueue.Error ?? Transport.EventQueue.Error;

    /// <summary>Raised once for each queue that breaks (0 commandq, 1 eventq), with why, on the queue's own
    /// loop: later kicks of a broken queue read nothing and raise nothing. A handler's exception is ignored.</summary>
    public event Action<int, VirtqueueException>? QueueBroken;

    private void ReportBroken(int queueIndex, DeviceQueue queue)
    {
        try
        {
            QueueBroken?.Invoke(queueIndex, queue.Error!);
        }
        catch (Exception)
        {
            // A log that fails must not end the queue's loop.
        }
    }

    /// <summary>The session with id <paramref name="id"/>, while it holds that id.</summary>
    public bool TryGetSession(uint id, out DeviceSession session) => _sessions.TryGetValue(id, out session!);

    /// <summary>Starts serving the command and event queues (call once the driver has set the queues up).</summary>
    public void Start()
    {
        if (_stop is not null)
        {
            throw new InvalidOperationException("the endpoint is already started");
        }
        _commandQueue = Transport.CommandQueue;
        _eventQueue = Transport.EventQueue;
        _commandQueue.SetNotification(true);
        _eventQueue.SetNotification(true);
        _stop = new CancellationTokenSource();
        var token = _stop.Token;
        _loops = Task.WhenAll(
            Task.Run(() => CommandLoopAsync(token), CancellationToken.None),
            Task.Run(() => EventLoopAsync(token), CancellationToken.None));
    }

    /// <summary>Stops serving: <see cref="StopAsync(TimeSpan)"/> with 10 s for the commands running to finish.</summary>
    public Task StopAsync() => StopAsync(TimeSpan.FromSeconds(10));

    /// <summary>
    /// Stops serving: takes no more chains, answers every command taken from the ring but not yet started with
    /// ENODEV (what V4L2 answers on a node that went away, v4l2-dev.c), writes no more events, waits (up to
    /// <paramref name="drainTimeout"/>) for the commands sessions are running to finish, then closes every session,
    /// disposing its handler and releasing its MMAP buffers and exports. Once it returns, the endpoint no longer
    /// touches guest memory, so the transport may be freed (a handler still blocked after the timeout is the device
    /// author's to end first).
    /// </summary>
    public async Task StopAsync(TimeSpan drainTimeout)
    {
        if (_stop is null)
        {
            return;
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loops.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        Volatile.Write(ref _stopping, true);
        // An event being written finishes under the gate; after it, FlushEvents sees the flag.
        lock (_eventGate)
        {
            // A buffer taken for an event that was never written goes back used with length 0, so the used ring
            // accounts for every chain taken from the available ring (GET_VRING_BASE counts it as consumed).
            if (_spareEventChain is { } spare)
            {
                _spareEventChain = null;
                if (_eventQueue!.Push(spare, 0))
                {
                    Transport.EventInterruptToDriver.Notify();
                }
            }
        }
        // Commands a session has queued but not started get their answer now, so the used ring accounts for every
        // chain taken from the available ring. A session's own worker may take some of them first; it answers the
        // same way (Execute sees the flag).
        foreach (var entry in _sessions)
        {
            while (entry.Value.TryTakeQueued(out var queued))
            {
                Cancel(queued);
            }
        }
        var deadline = Environment.TickCount64 + (long)drainTimeout.TotalMilliseconds;
        while (Volatile.Read(ref _executing) > 0 && Environment.TickCount64 < deadline)
        {
            await Task.Delay(1).ConfigureAwait(false);
        }
        foreach (var entry in _sessions)
        {
            CloseSession(entry.Value);
        }
        Volatile.Write(ref _stopped, true);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop?.Dispose();
    }

    private async Task CommandLoopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            DrainCommands();
            await Transport.CommandKicksFromDriver.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task EventLoopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            FlushEvents();
            await Transport.EventKicksFromDriver.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void DrainCommands()
    {
        var queue = _commandQueue!;
        while (true)
        {
            // Each command holds a lease on guest memory from before its descriptors are read until its used
            // entry is written, so no mapping it may touch is unmapped under it.
            var lease = Transport.Memory.Lease();
            switch (queue.Pop(out var chain))
            {
                case PopResult.Chain:
                    Route(lease, chain);
                    continue;
                case PopResult.RingBroken:
                    lease.Dispose();
                    // Counted once: the queue serves nothing more until reset (queue.NeedsReset, queue.Error).
                    Interlocked.Increment(ref _protocolErrors);
                    ReportBroken(0, queue);
                    return;
                default:
                    lease.Dispose();
                    return;
            }
        }
    }

    private void Route(GuestMemoryLease lease, DescriptorChain chain)
    {
        var command = _commandPool.TryRent(out var pooled) ? pooled : new DeviceCommand();
        command.Bind(lease, chain);
        var reader = command.Reader;
        if (!CommandCodec.PeekCommand(reader, out var kind).IsSuccess)
        {
            Complete(command, command.WriteStatus(Constants.EINVAL));
            return;
        }
        command.Kind = kind;
        switch (kind)
        {
            case Constants.VIRTIO_MEDIA_CMD_OPEN:
                Open(command);
                return;
            case Constants.VIRTIO_MEDIA_CMD_MUNMAP:
                Munmap(command);
                return;
            case Constants.VIRTIO_MEDIA_CMD_CLOSE:
            case Constants.VIRTIO_MEDIA_CMD_IOCTL:
            case Constants.VIRTIO_MEDIA_CMD_MMAP:
                // All three carry the session id right after the header.
                if (!reader.TrySkip(8) || !reader.TryRead(out uint sessionId))
                {
                    Complete(command, command.WriteStatus(Constants.EINVAL));
                    return;
                }
                if (!_sessions.TryGetValue(sessionId, out var session) || session.State == DeviceSessionState.Closed)
                {
                    Interlocked.Increment(ref _unknownSessionCommands);
                    Complete(command, command.WriteStatus(Constants.ENOENT));
                    return;
                }
                session.Enqueue(command);
                return;
            default:
                Complete(command, command.WriteStatus(Constants.EINVAL));
                return;
        }
    }

    /// <summary>Runs one command of <paramref name="session"/> (on the session's turn).</summary>
    internal void Execute(DeviceSession session, DeviceCommand command)
    {
        // Counted before the flag is read, so StopAsync either sees the count or this sees the flag.
        Interlocked.Increment(ref _executing);
        try
        {
            if (Volatile.Read(ref _stopped))
            {
                // StopAsync has returned, so the transport may be gone: drop the command without touching guest memory.
                command.Unbind();
                _commandPool.Return(command);
                return;
            }
            if (Volatile.Read(ref _stopping))
            {
                Cancel(command);
                return;
            }
            ExecuteCore(session, command);
        }
        finally
        {
            Interlocked.Decrement(ref _executing);
        }
    }

    private void ExecuteCore(DeviceSession session, DeviceCommand command)
    {
        if (session.State == DeviceSessionState.Closed)
        {
            Interlocked.Increment(ref _unknownSessionCommands);
            Complete(command, command.WriteStatus(Constants.ENOENT));
            return;
        }
        switch (command.Kind)
        {
            case Constants.VIRTIO_MEDIA_CMD_IOCTL:
                ServeIoctl(session, command);
                return;
            case Constants.VIRTIO_MEDIA_CMD_MMAP:
                ServeMmap(session, command);
                return;
            default:
                Close(session, command);
                return;
        }
    }

    private void Cancel(DeviceCommand command)
    {
        Interlocked.Increment(ref _cancelledCommands);
        Complete(command, command.WriteStatus(Constants.ENODEV));
    }

    private void Open(DeviceCommand command)
    {
        DeviceSession session;
        lock (_sessionGate)
        {
            if (_sessions.Count >= Options.MaxSessions)
            {
                Interlocked.Increment(ref _refusedOpens);
                Complete(command, command.WriteStatus(Constants.ENOMEM));
                return;
            }
            // Ids count up and wrap, skipping 0 and every id a session holds (open, or errored and not yet closed).
            // A closed id thus comes back only after 2^32 - 1 others: an event of the old session still in flight
            // to the driver can never be taken for one of a new session with the same id.
            var id = _lastSessionId;
            do
            {
                id = id == uint.MaxValue ? 1 : id + 1;
            }
            while (_sessions.ContainsKey(id));
            _lastSessionId = id;
            session = new DeviceSession(this, id);
            _sessions[id] = session;
        }
        try
        {
            session.Handler = _handlerFactory(session) ?? throw new InvalidOperationException("the handler factory returned null");
        }
        catch (Exception)
        {
            Interlocked.Increment(ref _handlerFaults);
            Forget(session);
            Complete(command, command.WriteStatus(Constants.EIO));
            return;
        }
        var writer = command.Writer;
        var response = new virtio_media_resp_open { session_id = session.Id };
        if (!CommandCodec.EncodeResponse(ref writer, response).IsSuccess)
        {
            // The driver cannot learn the id, so it could never close the session.
            Forget(session);
            Complete(command, command.WriteStatus(Constants.ENOSPC));
            return;
        }
        Complete(command, (uint)writer.Written);
    }

    private void ServeIoctl(DeviceSession session, DeviceCommand command)
    {
        var message = session.Message;
        var reader = command.Reader;
        var decoded = IoctlCodec.DecodeRequest(ref reader, message);
        var includePayload = false;
        int status;
        if (!decoded.IsSuccess)
        {
            status = decoded.Errno;
        }
        else if (session.State != DeviceSessionState.Open)
        {
            status = Constants.EIO;
        }
        else
        {
            var context = session.Context;
            context.WritePayloadOnError = false;
            try
            {
                status = session.Handler.Dispatch(context, message.Ioctl!, message.Payload);
            }
            catch (Exception)
            {
                Interlocked.Increment(ref _handlerFaults);
                status = Constants.EIO;
            }
            if (status < 0 || status > 4095)
            {
                status = Constants.EIO;
            }
            includePayload = status == 0 || context.WritePayloadOnError || message.Rule == Trailers.v4l2_ext_controls;
        }
        var writer = command.Writer;
        IoctlCodec.EncodeResponse(message, status, includePayload, ref writer);
        Complete(command, (uint)writer.Written);
    }

    private void ServeMmap(DeviceSession session, DeviceCommand command)
    {
        var reader = command.Reader;
        if (!CommandCodec.DecodeCommand(ref reader, Constants.VIRTIO_MEDIA_CMD_MMAP, out virtio_media_cmd_mmap request).IsSuccess)
        {
            Complete(command, command.WriteStatus(Constants.EINVAL));
            return;
        }
        if (session.State != DeviceSessionState.Open)
        {
            Complete(command, command.WriteStatus(Constants.EIO));
            return;
        }
        if (!Mmap.TryMap(session, request.offset, out var buffer))
        {
            Complete(command, command.WriteStatus(Constants.EINVAL));
            return;
        }
        var writer = command.Writer;
        var response = new virtio_media_resp_mmap { driver_addr = buffer.Offset, len = buffer.Length };
        if (!CommandCodec.EncodeResponse(ref writer, response).IsSuccess)
        {
            Mmap.TryUnmap(buffer.Offset);
            Complete(command, command.WriteStatus(Constants.ENOSPC));
            return;
        }
        Complete(command, (uint)writer.Written);
    }

    private void Munmap(DeviceCommand command)
    {
        var reader = command.Reader;
        if (!CommandCodec.DecodeCommand(ref reader, Constants.VIRTIO_MEDIA_CMD_MUNMAP, out virtio_media_cmd_munmap request).IsSuccess)
        {
            Complete(command, command.WriteStatus(Constants.EINVAL));
            return;
        }
        Complete(command, command.WriteStatus(Mmap.TryUnmap(request.driver_addr) ? 0 : Constants.EINVAL));
    }

    private void Close(DeviceSession session, DeviceCommand command)
    {
        CloseSession(session);
        // CLOSE needs no response; a header is written when the driver left room for one.
        Complete(command, command.WriteStatus(0));
    }

    /// <summary>Closes <paramref name="session"/> once (CLOSE, or the endpoint stopping): disposes its handler, then forgets it.</summary>
    private void CloseSession(DeviceSession session)
    {
        if (!session.TryMarkClosing())
        {
            return;
        }
        // The handler goes first: it may still be filling the session's MMAP buffers (a frame producer),
        // and those must not return to the allocator, or reach another session, before it has stopped.
        session.MarkClosed();
        if (session.Handler is IDisposable disposable)
        {
            try
            {
                disposable.Dispose();
            }
            catch (Exception)
            {
                Interlocked.Increment(ref _handlerFaults);
            }
        }
        Forget(session);
    }

    private void Forget(DeviceSession session)
    {
        session.MarkClosed();
        lock (_sessionGate)
        {
            _sessions.TryRemove(new KeyValuePair<uint, DeviceSession>(session.Id, session));
        }
        Mmap.ReleaseAll(session);
    }

    private void Complete(DeviceCommand command, uint written)
    {
        var chain = command.Chain;
        using var lease = command.TakeLease();
        command.Unbind();
        _commandPool.Return(command);
        if (_commandQueue!.Push(chain, written))
        {
            Transport.CommandInterruptToDriver.Notify();
        }
    }

    /// <summary>
    /// Queues an event and delivers what the driver's event buffers allow; never waits for buffers. False when the
    /// endpoint already holds <see cref="DeviceEndpointOptions.MaxHeldEvents"/> (the event is dropped); an ERROR
    /// event, one a session at most, is always held.
    /// </summary>
    internal bool PostEvent(in PendingEvent pending)
    {
        if (Interlocked.Increment(ref _heldEvents) > Options.MaxHeldEvents && pending.Kind != Constants.VIRTIO_MEDIA_EVT_ERROR)
        {
            Interlocked.Decrement(ref _heldEvents);
            CountDroppedEvent();
            return false;
        }
        _pendingEvents.Enqueue(pending);
        if (_eventQueue is not null)
        {
            FlushEvents();
        }
        return true;
    }

    internal void CountDroppedEvent() => Interlocked.Increment(ref _droppedEvents);

    private void FlushEvents()
    {
        var queue = _eventQueue!;
        lock (_eventGate)
        {
            // One lease for the whole delivery: the event ring's descriptors, the event buffers and used entries.
            using var lease = Transport.Memory.Lease();
            while (!Volatile.Read(ref _stopping))
            {
                // The next event is moved out of the queue into a field rather than peeked: peeking a queue of structs
                // that hold references pins its segment, and every later enqueue would then allocate a new one.
                if (!_hasNextEvent)
                {
                    if (!_pendingEvents.TryDequeue(out _nextEvent))
                    {
                        return;
                    }
                    _hasNextEvent = true;
                }
                if (!IsDeliverable(in _nextEvent))
                {
                    if (_nextEvent.Kind == Constants.VIRTIO_MEDIA_EVT_EVENT)
                    {
                        _nextEvent.Session.ForgetHeldEvent(_nextEvent.HeldSlot);
                    }
                    ForgetNextEvent();
                    Interlocked.Increment(ref _droppedEvents);
                    continue;
                }
                if (_spareEventChain is null)
                {
                    var popped = queue.Pop(out var buffer);
                    if (popped != PopResult.Chain)
                    {
                        if (popped == PopResult.RingBroken)
                        {
                            // Counted once; events are held (and bounded elsewhere) until the queue is reset.
                            Interlocked.Increment(ref _protocolErrors);
                            ReportBroken(1, queue);
                        }
                        return; // held until the driver supplies a buffer
                    }
                    _spareEventChain = buffer;
                }
                var chain = _spareEventChain;
                _spareEventChain = null;
                _eventCommand.Bind(Transport.Memory.Lease(), chain);
                var writer = _eventCommand.Writer;
                var encoded = Encode(ref writer, ref _nextEvent);
                ForgetNextEvent();
                var written = encoded.IsSuccess ? (uint)writer.Written : 0;
                if (!encoded.IsSuccess)
                {
                    Interlocked.Increment(ref _droppedEvents);
                }
                _eventCommand.Unbind();
                if (queue.Push(chain, written))
                {
                    Transport.EventInterruptToDriver.Notify();
                }
            }
        }
    }

    private void ForgetNextEvent()
    {
        _nextEvent = default;
        _hasNextEvent = false;
        Interlocked.Decrement(ref _heldEvents);
    }

    private bool IsDeliverable(in PendingEvent pending) =>
        _sessions.TryGetValue(pending.SessionId, out var session)
        && session == pending.Session
        && (session.State == DeviceSessionState.Open || (pending.Kind == Constants.VIRTIO_MEDIA_EVT_ERROR && session.State == DeviceSessionState.Errored));

    private WireResult Encode(ref ChainWriter writer, ref PendingEvent pending)
    {
        switch (pending.Kind)
        {
            case Constants.VIRTIO_MEDIA_EVT_DQBUF:
                // Copied to a heap scratch (under the event lock) so the span does not borrow the caller's struct.
                ReadOnlySpan<v4l2_plane> planes = pending.Planes;
                planes.Slice(0, pending.PlaneCount).CopyTo(_planeScratch);
                return EventCodec.EncodeDqbuf(ref writer, pending.SessionId, in pending.Buffer, _planeScratch.AsSpan(0, pending.PlaneCount));
            case Constants.VIRTIO_MEDIA_EVT_EVENT:
                pending.Session.TakeHeldEvent(pending.HeldSlot, out _eventScratch);
                return EventCodec.EncodeEvent(ref writer, pending.SessionId, in _eventScratch);
            default:
                return EventCodec.EncodeError(ref writer, pending.SessionId, pending.Errno);
        }
    }
}
