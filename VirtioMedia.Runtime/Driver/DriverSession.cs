using System;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Driver;

/// <summary>
/// An open session (an open <c>/dev/videoX</c>): sends ioctls (<see cref="IIoctlInvoker"/>, so every typed call of
/// <see cref="IoctlCalls"/> works on it), maps MMAP buffers, and receives its dequeued buffers and V4L2 events.
/// After an ERROR event the session closes itself, as the specification requires of the driver; once closed
/// (by either path) nothing more is sent with its id.
/// </summary>
public sealed class DriverSession : ITypedIoctlInvoker, IAsyncDisposable
{
    private const int StateOpen = 0;
    private const int StateErrored = 1;
    private const int StateClosed = 2;

    private readonly DriverEndpoint _endpoint;
    private readonly Channel<DequeuedBuffer> _buffers = Channel.CreateUnbounded<DequeuedBuffer>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly Channel<v4l2_event> _events = Channel.CreateUnbounded<v4l2_event>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _state;

    internal DriverSession(DriverEndpoint endpoint, uint id)
    {
        _endpoint = endpoint;
        Id = id;
    }

    /// <summary>The session id the device assigned.</summary>
    public uint Id { get; }

    /// <summary>The endpoint the session belongs to.</summary>
    public DriverEndpoint Endpoint => _endpoint;

    /// <summary>Whether the session has been closed (by <see cref="CloseAsync"/> or after an ERROR event).</summary>
    public bool IsClosed => Volatile.Read(ref _state) != StateOpen;

    /// <summary>The errno of the ERROR event the device sent, or null.</summary>
    public int? DeviceError { get; private set; }

    /// <summary>Completes once the CLOSE command has been answered (whoever closed the session).</summary>
    public Task Closed => _closed.Task;

    /// <summary>Buffers the device returned (DQBUF events), in order. Completes when the session closes; after an
    /// ERROR event, with a <see cref="DeviceErrorException"/>.</summary>
    public ChannelReader<DequeuedBuffer> DequeuedBuffers => _buffers.Reader;

    /// <summary>V4L2 events the device emitted (EVENT events), in order. Completes like <see cref="DequeuedBuffers"/>.</summary>
    public ChannelReader<v4l2_event> Events => _events.Reader;

    /// <inheritdoc/>
    /// <exception cref="ObjectDisposedException">The session is closed.</exception>
    /// <exception cref="TimeoutException">The device did not answer in time.</exception>
    /// <exception cref="DeviceProtocolException">The device's answer is malformed.</exception>
    public ValueTask<int> InvokeAsync(IoctlDescriptor ioctl, Memory<byte> payload, IoctlExtras? extras, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ioctl);
        ThrowIfClosed();
        if (payload.Length != ioctl.PayloadSize)
        {
            throw new ArgumentException($"{ioctl.Name} takes {ioctl.PayloadSize} payload bytes, not {payload.Length}", nameof(payload));
        }
        return _endpoint.InvokeAsync(this, ioctl, payload, extras, cancellationToken);
    }

    /// <inheritdoc/>
    /// <exception cref="ObjectDisposedException">The session is closed.</exception>
    /// <exception cref="TimeoutException">The device did not answer in time.</exception>
    /// <exception cref="DeviceProtocolException">The device's answer is malformed.</exception>
    public ValueTask<IoctlResult<TPayload>> InvokeAsync<TPayload>(IoctlDescriptor ioctl, TPayload payload, IoctlExtras? extras, CancellationToken cancellationToken)
        where TPayload : unmanaged
    {
        ArgumentNullException.ThrowIfNull(ioctl);
        ThrowIfClosed();
        if (Unsafe.SizeOf<TPayload>() != ioctl.PayloadSize)
        {
            throw new ArgumentException($"{ioctl.Name} takes {ioctl.PayloadSize} payload bytes, not the {Unsafe.SizeOf<TPayload>()} of {typeof(TPayload).Name}", nameof(payload));
        }
        return _endpoint.InvokeAsync(this, ioctl, in payload, extras, cancellationToken);
    }

    /// <summary>VIRTIO_MEDIA_CMD_MMAP: maps the MMAP buffer plane whose <c>mem_offset</c> QUERYBUF reported.</summary>
    public ValueTask<MappedBuffer> MapAsync(uint memOffset, bool writable = true, CancellationToken cancellationToken = default)
    {
        ThrowIfClosed();
        return _endpoint.MapAsync(this, memOffset, writable, cancellationToken);
    }

    /// <summary>VIRTIO_MEDIA_CMD_CLOSE. The id is not used again after this call starts. Idempotent.</summary>
    public async ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        var previous = Interlocked.Exchange(ref _state, StateClosed);
        if (previous == StateClosed)
        {
            await _closed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        await SendCloseAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => CloseAsync();

    internal void DeliverBuffer(in DequeuedBuffer buffer) => _buffers.Writer.TryWrite(buffer);

    internal void DeliverEvent(in v4l2_event payload) => _events.Writer.TryWrite(payload);

    /// <summary>An ERROR event: stop using the session and close it (spec, "Device-side error", driver).</summary>
    internal void OnDeviceError(int errno)
    {
        if (Interlocked.CompareExchange(ref _state, StateErrored, StateOpen) != StateOpen)
        {
            return;
        }
        DeviceError = errno;
        var error = new DeviceErrorException($"session {Id} failed on the device", errno);
        _buffers.Writer.TryComplete(error);
        _events.Writer.TryComplete(error);
        Volatile.Write(ref _state, StateClosed);
        _ = Task.Run(async () =>
        {
            try
            {
                await SendCloseAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The device is failing this session anyway; Closed still completes.
            }
        });
    }

    /// <summary>Ends the session's streams (endpoint disposal).</summary>
    internal void Complete(Exception? error)
    {
        _buffers.Writer.TryComplete(error);
        _events.Writer.TryComplete(error);
        _closed.TrySetResult();
    }

    private async ValueTask SendCloseAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _endpoint.CloseAsync(this, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _buffers.Writer.TryComplete();
            _events.Writer.TryComplete();
            _closed.TrySetResult();
        }
    }

    private void ThrowIfClosed()
    {
        if (Volatile.Read(ref _state) != StateOpen)
        {
            throw DeviceError is { } errno
                ? new DeviceErrorException($"session {Id} failed on the device and is closed", errno)
                : new ObjectDisposedException(nameof(DriverSession), $"session {Id} is closed");
        }
    }
}
