using System.Threading;
using System.Threading.Tasks;

namespace VirtioMedia.Runtime.Transport;

/// <summary>The receiving end of an <see cref="INotifier"/>: a semaphore in-process, an eventfd over vhost-user.</summary>
public interface INotificationSource
{
    /// <summary>Completes once at least one notification arrived since the previous wait returned.</summary>
    ValueTask WaitAsync(CancellationToken cancellationToken);
}
