using System;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;

namespace VirtioMedia.Runtime.Transport;

/// <summary>
/// An in-process doorbell: both ends of one notification line. Signals that arrive before the waiter wakes
/// coalesce into one wake-up, as with an eventfd. An auto-reset signal for one waiter at a time (each side of a
/// queue has a single loop waiting on it) whose waits are <see cref="ValueTask"/>s over the doorbell itself, so
/// ringing and waiting allocate nothing.
/// </summary>
public sealed class SemaphoreDoorbell : INotifier, INotificationSource, IValueTaskSource
{
    private const int Idle = 0;
    private const int Signaled = 1;
    private const int Waiting = 2;

    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _cancellation;
    private CancellationToken _waitToken;
    private int _state;

    /// <inheritdoc/>
    public void Notify()
    {
        while (true)
        {
            switch (Volatile.Read(ref _state))
            {
                case Signaled:
                    return;
                case Idle:
                    if (Interlocked.CompareExchange(ref _state, Signaled, Idle) == Idle)
                    {
                        return;
                    }
                    break;
                default:
                    // Whoever moves the state out of Waiting (this signal or a cancellation) completes the wait.
                    if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
                    {
                        _core.SetResult(true);
                        return;
                    }
                    break;
            }
        }
    }

    /// <inheritdoc/>
    /// <remarks>One waiter at a time: a wait that starts while another is pending throws <see cref="InvalidOperationException"/>.
    /// The returned task must be awaited before the next wait starts.</remarks>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Signaled) == Signaled)
        {
            return ValueTask.CompletedTask;
        }
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }
        if (Volatile.Read(ref _state) == Waiting)
        {
            throw new InvalidOperationException("a doorbell serves one waiter at a time");
        }
        // Reset before publishing Waiting: from then on a signal may complete the wait at once.
        _core.Reset();
        _waitToken = cancellationToken;
        if (Interlocked.CompareExchange(ref _state, Waiting, Idle) == Signaled)
        {
            // Rung between the first check and now.
            Volatile.Write(ref _state, Idle);
            return ValueTask.CompletedTask;
        }
        if (cancellationToken.CanBeCanceled)
        {
            // A source reuses its registration nodes, so registering per wait allocates nothing once warm.
            _cancellation = cancellationToken.UnsafeRegister(static state => ((SemaphoreDoorbell)state!).Cancel(), this);
        }
        return new ValueTask(this, _core.Version);
    }

    private void Cancel()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
        {
            _core.SetException(new OperationCanceledException(_waitToken));
        }
    }

    void IValueTaskSource.GetResult(short token)
    {
        // Disposed here, on the waiter's side, so the next wait never races this one's registration.
        _cancellation.Dispose();
        _cancellation = default;
        _waitToken = default;
        _core.GetResult(token);
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
