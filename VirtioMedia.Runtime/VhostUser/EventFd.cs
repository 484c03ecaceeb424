using System;
using System.IO;
using VirtioMedia.Runtime.VhostUser.Interop;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>Creates eventfds, the doorbells of vhost-user (kick and call).</summary>
public static unsafe class EventFd
{
    /// <summary>A new non-blocking, close-on-exec eventfd with counter 0.</summary>
    public static UnixFileDescriptor Create() =>
        new(LibC.Check(LibC.EventFd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK), "eventfd"));

    /// <summary>Checks that <paramref name="fd"/>, received from a peer as a kick or call descriptor, is an
    /// eventfd, and makes it non-blocking: a pipe nobody reads would block every notification, and a pipe
    /// whose writer hung up would wake its watcher for ever. Throws <see cref="ArgumentException"/> for
    /// any other kind of file (the caller still owns and disposes <paramref name="fd"/>).</summary>
    internal static void Verify(UnixFileDescriptor fd, string what)
    {
        fd.With(raw =>
        {
            // Linux has no fstat type for an eventfd (an anonymous inode); its fdinfo alone names the counter
            // (fs/eventfd.c, eventfd_show_fdinfo).
            string info;
            try
            {
                info = File.ReadAllText($"/proc/self/fdinfo/{raw}");
            }
            catch (IOException error)
            {
                throw new ArgumentException($"{what}: descriptor {raw} cannot be inspected: {error.Message}");
            }
            if (!info.Contains("eventfd-count:", StringComparison.Ordinal))
            {
                throw new ArgumentException($"{what}: the descriptor is not an eventfd");
            }
            var flags = LibC.Check(LibC.Fcntl(raw, LibC.F_GETFL, 0), "fcntl(F_GETFL)");
            if ((flags & LibC.O_NONBLOCK) == 0)
            {
                LibC.Check(LibC.Fcntl(raw, LibC.F_SETFL, flags | LibC.O_NONBLOCK), "fcntl(F_SETFL)");
            }
            return 0;
        });
    }

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
