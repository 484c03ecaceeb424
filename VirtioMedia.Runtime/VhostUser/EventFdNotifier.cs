using System;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>Rings a doorbell by writing to an eventfd (a vring kick or call).</summary>
public sealed class EventFdNotifier : INotifier, IDisposable
{
    private readonly UnixFileDescriptor _fd;

    /// <summary>Takes ownership of <paramref name="fd"/>.</summary>
    public EventFdNotifier(UnixFileDescriptor fd) => _fd = fd;

    /// <inheritdoc/>
    public void Notify()
    {
        try
        {
            using var fd = _fd.Acquire();
            EventFd.Signal(fd.Fd);
        }
        catch (ObjectDisposedException)
        {
            // Replaced or closed while ringing: the other side is not listening on it any more.
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _fd.Dispose();
}
