using VirtioMedia.Runtime.VhostUser.Interop;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>Creates eventfds, the doorbells of vhost-user (kick and call).</summary>
public static unsafe class EventFd
{
    /// <summary>A new non-blocking, close-on-exec eventfd with counter 0.</summary>
    public static UnixFileDescriptor Create() =>
        new(LibC.Check(LibC.EventFd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK), "eventfd"));

    /// <summary>Adds 1 to the counter. Never blocks: a counter at its maximum already wakes the reader.</summary>
    internal static void Signal(int fd)
    {
        ulong one = 1;
        while (LibC.Write(fd, &one, sizeof(ulong)) < 0 && LibC.LastError == LibC.EINTR)
        {
        }
    }

    /// <summary>Reads and resets the counter; false when it was 0 (the descriptor must be non-blocking).</summary>
    internal static bool Drain(int fd)
    {
        ulong value;
        while (true)
        {
            if (LibC.Read(fd, &value, sizeof(ulong)) == sizeof(ulong))
            {
                return true;
            }
            if (LibC.LastError != LibC.EINTR)
            {
                return false;
            }
        }
    }
}
