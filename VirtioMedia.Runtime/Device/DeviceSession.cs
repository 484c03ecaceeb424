using System;
using System.Collections.Concurrent;
using System.Threading;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// One open session of a device endpoint (an open <c>/dev/videoX</c>). Its commands run in order on the thread
/// pool, one at a time, while other sessions' commands run concurrently. Events may be emitted from any thread.
/// </summary>
public sealed class DeviceSession : IThreadPoolWorkItem
{
    private readonly ConcurrentQueue<DeviceCommand> _commands = new();
    private readonly object _heldGate = new();
    private HeldV4l2Event[]? _held;
    private int _state;
    private int _running;
    private int _closing;

    internal DeviceSession(DeviceEndpoint endpoint, uint id)
    {
        Endpoint = endpoint;
        Id = id;
        Message = new IoctlMessage();
        Context = new DeviceIoctlContext(this, Message);
    }

    /// <summary>The session id the driver uses.</summary>
    public uint Id { get; }

    /// <summary>The endpoint that serves the session.</summary>
    public DeviceEndpoint Endpoint { get; }

    /// <summary>Open, errored (after <see cref="RaiseError"/>) or closed.</summary>
    public DeviceSessionState State => (DeviceSessionState)Volatile.Read(ref _state);

    internal IoctlMessage Message { get; }

    internal DeviceIoctlContext Context { get; }

    internal V4l2DeviceHandler<DeviceIoctlContext> Handler { get; set; } = null!;

    /// <summary>
    /// Queues a DQBUF event: the buffer is done and returns to the driver. Pointer values are sent as 0. Never
    /// blocks: when the driver has supplied no event buffer the event is held. Returns false when the event was
    /// dropped: the session is no longer open, or the endpoint holds <see cref="DeviceEndpointOptions.MaxHeldEvents"/>.
    /// </summary>
    public bool EmitDqbuf(in v4l2_buffer buffer, ReadOnlySpan<v4l2_plane> planes = default)
    {
        if (planes.Length > Constants.VIRTIO_MEDIA_MAX_PLANES)
        {
            throw new ArgumentOutOfRangeException(nameof(planes), "more planes than VIRTIO_MEDIA_MAX_PLANES");
        }
        if (State != DeviceSessionState.Open)
        {
            return false;
        }
        var pending = new PendingEvent { Kind = Constants.VIRTIO_MEDIA_EVT_DQBUF, SessionId = Id, Session = this, Buffer = buffer, PlaneCount = planes.Length };
        for (var i = 0; i < planes.Length; i++)
        {
            pending.Planes[i] = planes[i];
        }
        return Endpoint.PostEvent(in pending);
    }

    /// <summary>
    /// Queues an EVENT event (a V4L2 event the driver subscribed to). Same rules as <see cref="EmitDqbuf"/>, and
    /// V4L2's bound on what a subscription keeps (<see cref="DeviceEndpointOptions.MaxHeldV4l2EventsPerSession"/>):
    /// while an event of the same type and id is still held, this one replaces it (a control or source change
    /// keeps the held event's <c>changes</c> bits too) and true is returned. Returns false when the event was
    /// dropped: the session is not open, or the session or the endpoint holds all the events it may.
    /// </summary>
    public bool EmitEvent(in v4l2_event payload)
    {
        if (State != DeviceSessionState.Open)
        {
            return false;
        }
        int slot;
        lock (_heldGate)
        {
            var held = _held ??= new HeldV4l2Event[Endpoint.Options.MaxHeldV4l2EventsPerSession];
            slot = -1;
            for (var i = 0; i < held.Length; i++)
            {
                ref var entry = ref held[i];
                if (entry.InUse && entry.Event.type == payload.type && entry.Event.id == payload.id)
                {
                    // v4l2-event.c, __v4l2_event_queue_fh: with room for one event, a newer one replaces it through
                    // the subscription's replace operation; controls (v4l2-ctrls-core.c) and source changes
                    // (v4l2-event.c) keep the older event's change bits.
                    var changes = payload.type switch
                    {
                        Constants.V4L2_EVENT_CTRL => entry.Event.u.ctrl.changes,
                        Constants.V4L2_EVENT_SOURCE_CHANGE => entry.Event.u.src_change.changes,
                        _ => 0u,
                    };
                    entry.Event = payload;
                    if (payload.type == Constants.V4L2_EVENT_CTRL)
                    {
                        entry.Event.u.ctrl.changes |= changes;
                    }
                    else if (payload.type == Constants.V4L2_EVENT_SOURCE_CHANGE)
                    {
                        entry.Event.u.src_change.changes |= changes;
                    }
                    return true;
                }
                if (!entry.InUse && slot < 0)
                {
                    slot = i;
                }
            }
            if (slot < 0)
            {
                Endpoint.CountDroppedEvent();
                return false;
            }
            held[slot].InUse = true;
            held[slot].Event = payload;
        }
        var pending = new PendingEvent { Kind = Constants.VIRTIO_MEDIA_EVT_EVENT, SessionId = Id, Session = this, HeldSlot = slot };
        if (!Endpoint.PostEvent(in pending))
        {
            ForgetHeldEvent(slot);
            return false;
        }
        return true;
    }

    /// <summary>Moves the event held in <paramref name="slot"/> out for delivery.</summary>
    internal void TakeHeldEvent(int slot, out v4l2_event payload)
    {
        lock (_heldGate)
        {
            payload = _held![slot].Event;
            _held[slot] = default;
        }
    }

    /// <summary>Frees <paramref name="slot"/>: its event was dropped.</summary>
    internal void ForgetHeldEvent(int slot)
    {
        lock (_heldGate)
        {
            _held![slot] = default;
        }
    }

    /// <summary>
    /// Declares the session broken: queues an ERROR event with <paramref name="errno"/>; from then on its commands
    /// fail with EIO, and its id stays reserved until the driver closes it. Returns false when it was not open.
    /// </summary>
    public bool RaiseError(int errno)
    {
        if (Interlocked.CompareExchange(ref _state, (int)DeviceSessionState.Errored, (int)DeviceSessionState.Open) != (int)DeviceSessionState.Open)
        {
            return false;
        }
        var pending = new PendingEvent { Kind = Constants.VIRTIO_MEDIA_EVT_ERROR, SessionId = Id, Session = this, Errno = errno };
        Endpoint.PostEvent(in pending);
        return true;
    }

    internal void MarkClosed() => Volatile.Write(ref _state, (int)DeviceSessionState.Closed);

    /// <summary>True for the first of CLOSE and the endpoint's stop to close the session.</summary>
    internal bool TryMarkClosing() => Interlocked.Exchange(ref _closing, 1) == 0;

    /// <summary>Takes a command queued but not yet started (the endpoint is stopping).</summary>
    internal bool TryTakeQueued(out DeviceCommand command) => _commands.TryDequeue(out command!);

    /// <summary>Queues a command behind the session's earlier ones.</summary>
    internal void Enqueue(DeviceCommand command)
    {
        _commands.Enqueue(command);
        if (Interlocked.CompareExchange(ref _running, 1, 0) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    void IThreadPoolWorkItem.Execute()
    {
        while (true)
        {
            while (_commands.TryDequeue(out var command))
            {
                Endpoint.Execute(this, command);
            }
            Volatile.Write(ref _running, 0);
            // A command queued between the last dequeue and the flag's reset would otherwise wait for the next one.
            if (_commands.IsEmpty || Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            {
                return;
            }
        }
    }
}
