using System;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Samples.Camera;

/// <summary>
/// The capture state of the camera on one endpoint, shared by all its sessions as V4L2 shares a capture node's state
/// among its file handles: the format, the frame interval and the buffer queue (owned by the session that allocated
/// its buffers), and the producer that renders frames into queued buffers at the frame interval or, with
/// <see cref="CameraOptions.Fast"/>, as soon as a buffer is queued. The frame index rendered into a buffer is the
/// <c>sequence</c> its DQBUF carries; the controls are those in effect when rendering starts.
/// </summary>
internal sealed partial class CameraStream
{
    private readonly VirtualCamera _camera;
    private readonly DeviceEndpoint _endpoint;
    private int _generation;
    private uint _sequence;
    private bool _finished;
    private SemaphoreSlim? _wake;
    private CancellationTokenSource? _stop;
    private CameraSession? _owner;

    public CameraStream(VirtualCamera camera, DeviceEndpoint endpoint)
    {
        _camera = camera;
        _endpoint = endpoint;
        var memory = camera.Options.Memory;
        if (!endpoint.SharedMemoryAvailable)
        {
            // Without shared memory region 0 the driver could not map MMAP buffers: offer only what can be served.
            memory &= ~MemoryTypes.Mmap;
        }
        Queue = new BufferQueue(camera.BufferType, memory, CameraSession.MaxBuffers);
        Format = FrameFormat.Negotiate(camera.PixelFormats, camera.PixelFormats[0], 640, 480);
    }

    /// <summary>Guards the format, the queue and the stream: ioctls run on the sessions' turns, frames on the producer task.</summary>
    public object Gate { get; } = new();

    public BufferQueue Queue { get; }

    public FrameFormat Format { get; set; }

    public int FramesPerSecond { get; set; } = CameraFormats.FrameRates[0];

    /// <summary>Frames rendered so far.</summary>
    public long FramesProduced { get; private set; }

    /// <summary>Notes which handler owns the queue after a buffer ioctl of <paramref name="caller"/> (call under <see cref="Gate"/>).</summary>
    public void TrackOwner(CameraSession caller)
    {
        if (Queue.Owner is null)
        {
            _owner = null;
        }
        else if (Queue.Owner == caller.Session)
        {
            _owner = caller;
        }
    }

    /// <summary>STREAMON: starts the producer when the queue starts streaming (call under <see cref="Gate"/>).</summary>
    public int StreamOn(DeviceIoctlContext context, uint type)
    {
        var wasStreaming = Queue.IsStreaming;
        var status = Queue.StreamOn(context, type);
        if (status != 0 || wasStreaming)
        {
            return status;
        }
        _finished = false;
        _sequence = 0;
        var generation = ++_generation;
        var wake = new SemaphoreSlim(Queue.QueuedCount);
        var stop = new CancellationTokenSource();
        _wake = wake;
        _stop = stop;
        var interval = TimeSpan.FromSeconds(1.0 / FramesPerSecond);
        var token = stop.Token;
        _ = Task.Run(() => ProduceAsync(generation, wake, interval, token), CancellationToken.None);
        return 0;
    }

    /// <summary>STREAMOFF: stops the producer; an EOS event follows when a stream was running (call under <see cref="Gate"/>).</summary>
    public int StreamOff(DeviceIoctlContext context, uint type)
    {
        var wasStreaming = Queue.IsStreaming;
        var status = Queue.StreamOff(context, type);
        if (status != 0)
        {
            return status;
        }
        StopProducer();
        if (wasStreaming)
        {
            _owner?.EmitEndOfStream();
        }
        return 0;
    }

    /// <summary>A buffer was queued: in fast mode, a frame can be rendered now (call under <see cref="Gate"/>).</summary>
    public void BufferQueued()
    {
        if (Queue.IsStreaming && _camera.Options.Fast)
        {
            _wake?.Release();
        }
    }

    /// <summary>A session closes: when it owns the queue, the stream stops and the buffers go.</summary>
    public void Release(CameraSession session)
    {
        lock (Gate)
        {
            if (Queue.Owner != session.Session)
            {
                return;
            }
            StopProducer();
            Queue.Release(session.Session, _endpoint.Mmap);
            _owner = null;
        }
    }

    /// <summary>Stops the stream and frees the buffers whoever owns them; returns once no frame is being rendered.</summary>
    public void Reset()
    {
        lock (Gate)
        {
            StopProducer();
            Queue.Reset(_endpoint.Mmap);
            _owner = null;
        }
    }

    private void StopProducer()
    {
        Queue.Stop();
        _finished = false;
        _generation++;
        _stop?.Cancel();
        _stop?.Dispose();
        _stop = null;
        _wake = null;
    }

    private async Task ProduceAsync(int generation, SemaphoreSlim wake, TimeSpan interval, CancellationToken cancellationToken)
    {
        try
        {
            if (_camera.Options.Fast)
            {
                while (true)
                {
                    await wake.WaitAsync(cancellationToken).ConfigureAwait(false);
                    if (ProduceFrame(generation) == Production.Stopped)
                    {
                        return;
                    }
                }
            }
            using var timer = new PeriodicTimer(interval);
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                if (ProduceFrame(generation) == Production.Stopped)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
            // The stream stopped under the producer: its buffers are gone.
        }
    }

    private enum Production
    {
        Produced,
        NoBuffer,
        Stopped,
    }

    private Production ProduceFrame(int generation)
    {
        lock (Gate)
        {
            var owner = Queue.Owner;
            if (!Queue.IsStreaming || _finished || generation != _generation || owner is null || owner.State != DeviceSessionState.Open)
            {
                return Production.Stopped;
            }
            // Without a queued buffer the frame is skipped and the sequence does not advance.
            if (!Queue.TryTakeNext(out var buffer))
            {
                return Production.NoBuffer;
            }
            var format = Format;
            var frame = _sequence++;
            Render(buffer, format, frame, _camera.Controls);
            FramesProduced++;
            var last = _camera.Options.FrameLimit > 0 && frame + 1 >= _camera.Options.FrameLimit;
            Span<uint> bytesUsed = [(uint)format.PlaneSize0, (uint)format.PlaneSize1];
            Queue.Complete(buffer, frame, bytesUsed.Slice(0, format.PlaneCount), last);
            if (last)
            {
                _finished = true;
                _owner?.EmitEndOfStream();
                return Production.Stopped;
            }
            return Production.Produced;
        }
    }
}
