using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using VirtioMedia.Abi;

namespace VirtioMedia.Samples.Guest;

/// <summary>
/// Reads a session's V4L2 events (the only reader of them) and lets the capture loop wait for the
/// V4L2_EVENT_CTRL that confirms a control change, without stopping the stream.
/// </summary>
internal sealed class ControlEventWatcher
{
    private readonly List<(uint Id, int Value, long At)> _received = new();
    private readonly object _gate = new();
    private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>How many V4L2 events arrived, of any type.</summary>
    public int EventCount { get; private set; }

    /// <summary>Consumes <paramref name="events"/> until it completes or <paramref name="cancellationToken"/> fires.</summary>
    public async Task RunAsync(ChannelReader<v4l2_event> events, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var received in events.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                var at = Stopwatch.GetTimestamp();
                lock (_gate)
                {
                    EventCount++;
                    if (received.type == Constants.V4L2_EVENT_CTRL && (received.u.ctrl.changes & Constants.V4L2_EVENT_CTRL_CH_VALUE) != 0)
                    {
                        _received.Add((received.id, received.u.ctrl.value, at));
                    }
                    _arrived.TrySetResult();
                    _arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ChannelClosedException)
        {
            // The session failed; the capture loop reports that through its buffer channel.
        }
    }

    /// <summary>Waits until control <paramref name="id"/> is reported at <paramref name="value"/>; returns the
    /// timestamp of that event, or null when none came within <paramref name="timeout"/>.</summary>
    public async Task<long?> WaitAsync(uint id, int value, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            Task arrived;
            lock (_gate)
            {
                var found = _received.FindIndex(e => e.Id == id && e.Value == value);
                if (found >= 0)
                {
                    var at = _received[found].At;
                    _received.RemoveAt(found);
                    return at;
                }
                arrived = _arrived.Task;
            }
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (left <= TimeSpan.Zero)
            {
                return null;
            }
            try
            {
                await arrived.WaitAsync(left, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return null;
            }
        }
    }
}
