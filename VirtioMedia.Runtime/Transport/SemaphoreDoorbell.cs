using System.Threading;
using System.Threading.Tasks;

namespace VirtioMedia.Runtime.Transport;

/// <summary>
/// An in-process doorbell: both ends of one notification line. Signals that arrive before the waiter
/// wakes coalesce into one wake-up, as with an eventfd, so the semaphore never counts past one.
/// </summary>
public sealed class SemaphoreDoorbell : INotifier, INotificationSource
{
    private readonly SemaphoreSlim _semaphore = new(0, 1);
    private int _pending;

    /// <inheritdoc/>
    public void Notify()
    {
        if (Interlocked.CompareExchange(ref _pending, 1, 0) == 0)
        {
            _semaphore.Release();
        }
    }

    /// <inheritdoc/>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        var wait = _semaphore.WaitAsync(cancellationToken);
        if (wait.IsCompletedSuccessfully)
        {
            Volatile.Write(ref _pending, 0);
            return ValueTask.CompletedTask;
        }
        return WaitSlowAsync(wait);
    }

    private async ValueTask WaitSlowAsync(Task wait)
    {
        await wait.ConfigureAwait(false);
        // Cleared after the wake-up: a signal that lands after this point releases the semaphore again, and the
        // waiter re-reads the ring after every wake-up, so nothing is lost.
        Volatile.Write(ref _pending, 0);
    }
}
