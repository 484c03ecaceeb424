using System;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.VhostUser.Interop;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>
/// Waits for an eventfd. A dedicated thread polls the descriptor (and a private stop eventfd), so no
/// thread-pool thread ever blocks in the kernel; it rings an in-process doorbell, whose waits allocate nothing
/// and honour cancellation. One waiter at a time, as each queue has one loop.
/// </summary>
public sealed class EventFdNotificationSource : INotificationSource, IDisposable
{
    private readonly UnixFileDescriptor _fd;
    private readonly UnixFileDescriptor _stop = EventFd.Create();
    private readonly SemaphoreDoorbell _signal = new();
    private readonly Thread _thread;
    private int _pending;
    private int _disposed;
    private bool _faulted;

    /// <summary>Takes ownership of <paramref name="fd"/> (it must be non-blocking) and starts watching it.</summary>
    public EventFdNotificationSource(UnixFileDescriptor fd, string name = "eventfd")
    {
        _fd = fd;
        _thread = new Thread(Watch) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>The watched eventfd (to pass to the other side again).</summary>
    internal UnixFileDescriptor Descriptor => _fd;

    /// <summary>Whether the watch ended because the descriptor failed or hung up (the other side's end is unusable).</summary>
    public bool Faulted => Volatile.Read(ref _faulted);

    /// <summary>Whether the watching thread has ended (a fault, a hang-up or <see cref="Dispose"/>).</summary>
    public bool Watching => _thread.IsAlive;

    /// <inheritdoc/>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        var wait = _signal.WaitAsync(cancellationToken);
        if (wait.IsCompleted)
        {
            wait.GetAwaiter().GetResult(); // releases the doorbell's wait even when it completed at once
            Rearm();
            return default;
        }
        return WaitSlowAsync(wait);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WaitSlowAsync(ValueTask wait)
    {
        await wait.ConfigureAwait(false);
        Rearm();
    }

    // Kicks that arrive before the waiter has woken coalesce into its wake-up, as eventfd reads do; from here
    // on a kick wakes the next wait.
    private void Rearm() => Volatile.Write(ref _pending, 0);

    private unsafe void Watch()
    {
        var fd = 0;
        var stop = 0;
        var addedFd = false;
        var addedStop = false;
        _fd.DangerousAddRef(ref addedFd);
        _stop.DangerousAddRef(ref addedStop);
        try
        {
            fd = _fd.Value;
            stop = _stop.Value;
            var descriptors = stackalloc LibC.PollDescriptor[2];
            while (true)
            {
                descriptors[0] = new LibC.PollDescriptor { Fd = fd, Events = LibC.POLLIN };
                descriptors[1] = new LibC.PollDescriptor { Fd = stop, Events = LibC.POLLIN };
                if (LibC.Poll(descriptors, 2, -1) < 0)
                {
                    if (LibC.LastError == LibC.EINTR)
                    {
                        continue;
                    }
                    Volatile.Write(ref _faulted, true);
                    return;
                }
                if (descriptors[1].ReturnedEvents != 0)
                {
                    return;
                }
                // A hang-up stays reported on every poll: the watch ends instead of spinning on it.
                if ((descriptors[0].ReturnedEvents & (LibC.POLLERR | LibC.POLLHUP | LibC.POLLNVAL)) != 0)
                {
                    Volatile.Write(ref _faulted, true);
                    return;
                }
                if (EventFd.Drain(fd) && Interlocked.Exchange(ref _pending, 1) == 0)
                {
                    _signal.Notify();
                }
            }
        }
        finally
        {
            if (addedFd)
            {
                _fd.DangerousRelease();
            }
            if (addedStop)
            {
                _stop.DangerousRelease();
            }
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stop.With(raw =>
        {
            EventFd.Signal(raw);
            return 0;
        });
        _thread.Join(TimeSpan.FromSeconds(5));
        _fd.Dispose();
        _stop.Dispose();
    }
}
