using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Runtime.VhostUser.Interop;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>A listening vhost-user Unix socket at a path; the file is removed when disposed.</summary>
public sealed unsafe class VhostUserListener : IDisposable
{
    private readonly UnixFileDescriptor _socket;

    private VhostUserListener(UnixFileDescriptor socket, string path)
    {
        _socket = socket;
        Path = path;
    }

    /// <summary>The socket path.</summary>
    public string Path { get; }

    /// <summary>The permissions a new socket file gets unless told otherwise: its owner's alone (0600),
    /// as whoever can connect can hand this process guest memory and drive the device.</summary>
    public const UnixFileMode DefaultSocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Listens at <paramref name="path"/>, a socket file created with <paramref name="mode"/>
    /// (<see cref="DefaultSocketMode"/> by default). A socket left by a previous run is replaced; any other
    /// file there is left alone and an <see cref="IOException"/> thrown.</summary>
    public static VhostUserListener Listen(string path, UnixFileMode mode = DefaultSocketMode)
    {
        RemoveStaleSocket(path);
        var fd = new UnixFileDescriptor(LibC.Check(LibC.Socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0), "socket"));
        try
        {
            fd.With(raw =>
            {
                VhostUserChannel.WithAddress(path, (address, length) => LibC.Check(LibC.Bind(raw, (void*)address, length), $"bind({path})"));
                // Before listen(): until then a connect is refused, so nobody connects under the umask's mode.
                LibC.Check(LibC.Chmod(path, (uint)mode), $"chmod({path})");
                return LibC.Check(LibC.Listen(raw, 4), "listen");
            });
            return new VhostUserListener(fd, path);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    private static void RemoveStaleSocket(string path)
    {
        var stat = stackalloc byte[LibC.StatxBufferSize];
        if (LibC.Statx(LibC.AT_FDCWD, path, LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_TYPE, stat) != 0)
        {
            return; // nothing there (bind reports any other reason)
        }
        var type = *(ushort*)(stat + LibC.StatxModeOffset) & LibC.S_IFMT;
        if (type != LibC.S_IFSOCK)
        {
            throw new IOException($"{path} exists and is not a socket: not removed, not listening there");
        }
        LibC.Unlink(path);
    }

    /// <summary>Waits for the next connection. The wait runs on a dedicated thread polling in short
    /// slices, so cancellation is noticed within 100 ms.</summary>
    public Task<VhostUserChannel> AcceptAsync(CancellationToken cancellationToken) =>
        Task.Factory.StartNew(() => Accept(cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private VhostUserChannel Accept(CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var accepted = _socket.With(raw =>
            {
                var descriptor = new LibC.PollDescriptor { Fd = raw, Events = LibC.POLLIN };
                var ready = LibC.Poll(&descriptor, 1, 100);
                if (ready <= 0)
                {
                    return ready < 0 && LibC.LastError != LibC.EINTR ? throw LibC.Failure("poll", LibC.LastError) : -1;
                }
                var fd = LibC.Accept4(raw, null, null, LibC.SOCK_CLOEXEC);
                return fd >= 0 || LibC.LastError is LibC.EINTR or LibC.EAGAIN ? fd : throw LibC.Failure("accept4", LibC.LastError);
            });
            if (accepted >= 0)
            {
                return new VhostUserChannel(new UnixFileDescriptor(accepted));
            }
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _socket.Dispose();
        LibC.Unlink(Path);
    }
}
