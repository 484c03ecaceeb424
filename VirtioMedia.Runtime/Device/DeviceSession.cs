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
    private int _state;
    private int _running;

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
    /// blocks: when the driver has supplied no event buffer the event is held. Returns false when the session is
    /// no longer open (the event is dropped).
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
        Endpoint.PostEvent(in pending);
        return true;
    }

    /// <summary>Queues an EVENT event (a V4L2 event the driver subscribed to). Same rules as <see cref="EmitDqbuf"/>.</summary>
    public bool EmitEvent(in v4l2_event payload)
    {
        if (State != DeviceSessionState.Open)
        {
            return false;
        }
        var pending = new PendingEvent { Kind = Constants.VIRTIO_MEDIA_EVT_EVENT, SessionId = Id, Session = this, Event = payload };
        Endpoint.PostEvent(in pending);
        return true;
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
