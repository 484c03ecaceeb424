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
/// <remarks>
/// A wait is completed in a state of its own, <c>Completing</c>, left only once the completion has returned. The
/// completion marks the wait done before it publishes its continuation sentinel, so a waiter that resumes at once (it
/// saw the wait done when it awaited) could otherwise start its next wait, resetting the completion source, while the
/// ringer is still between the two: the sentinel then lands on the next wait, whose continuation runs although nothing
/// completed it, and the waiting loop faults with InvalidOperationException. A command loop that faults that way
/// leaves every later command unanswered. So a new wait, and a ring, wait out <c>Completing</c> (a few instructions,
/// unless the ringer is preempted there).
/// </remarks>
public sealed class SemaphoreDoorbell : INotifier, INotificationSource, IValueTaskSource
{
    private const int Idle = 0;
    private const int Signaled = 1;
    private const int Waiting = 2;
    private const int Completing = 3;

    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _cancellation;
    private CancellationToken _waitToken;
    private int _state;
    private bool _continuationRegistered;
    private long _resumedWhileCompleting;

    /// <summary>How many waits were resumed synchronously (the waiter found the wait done when it awaited, so no
    /// continuation was registered) while the ringer was still inside the completion: each one is an occurrence of the
    /// window that <c>Completing</c> closes. Read by the stress tests to show that the window is reached.</summary>
    internal long ResumedWhileCompleting => Interlocked.Read(ref _resumedWhileCompleting);

    /// <inheritdoc/>
    public void Notify()
    {
        var spin = default(SpinWait);
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
                case Waiting:
                    // Whoever moves the state out of Waiting (this signal or a cancellation) completes the wait.
                    if (Interlocked.CompareExchange(ref _state, Completing, Waiting) == Waiting)
                    {
                        _core.SetResult(true);
                        Volatile.Write(ref _state, Idle);
                        return;
                    }
                    break;
                default:
                    // Another ring is completing the wait; this one must still be seen by the next wait.
                    spin.SpinOnce();
                    break;
            }
        }
    }

    /// <inheritdoc/>
    /// <remarks>One waiter at a time: a wait that starts while another is pending throws <see cref="InvalidOperationException"/>.
    /// The returned task must be awaited before the next wait starts.</remarks>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _state) == Completing)
        {
            WaitOutCompletion();
        }
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
        _continuationRegistered = false;
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

    private void WaitOutCompletion()
    {
        var spin = default(SpinWait);
        while (Volatile.Read(ref _state) == Completing)
        {
            spin.SpinOnce();
        }
    }

    private void Cancel()
    {
        if (Interlocked.CompareExchange(ref _state, Completing, Waiting) == Waiting)
        {
            _core.SetException(new OperationCanceledException(_waitToken));
            Volatile.Write(ref _state, Idle);
        }
    }

    void IValueTaskSource.GetResult(short token)
    {
        if (!_continuationRegistered && Volatile.Read(ref _state) == Completing)
        {
            Interlocked.Increment(ref _resumedWhileCompleting);
        }
        // Disposed here, on the waiter's side, so the next wait never races this one's registration.
        _cancellation.Dispose();
        _cancellation = default;
        _waitToken = default;
        _core.GetResult(token);
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        _continuationRegistered = true;
        _core.OnCompleted(continuation, state, token, flags);
    }
}
