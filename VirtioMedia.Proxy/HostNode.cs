using System;
using System.Runtime.InteropServices;
using VirtioMedia.Abi;

namespace VirtioMedia.Proxy;

/// <summary>
/// One open file of a host V4L2 node, opened non-blocking: buffers are dequeued only after poll(2) reports them, so
/// no ioctl of a session can block its command queue. Calls go straight to libc (no marshalling, no allocation).
/// </summary>
internal sealed unsafe partial class HostNode : IDisposable
{
    private const int O_RDWR = 2;
    private const int O_NONBLOCK = 0x800;
    internal const int O_CLOEXEC = 0x80000;
    internal const int O_ACCMODE = 3;
    private const int PROT_READ = 1;
    private const int PROT_WRITE = 2;
    private const int MAP_SHARED = 1;
    internal const short POLLIN = 0x001;
    internal const short POLLPRI = 0x002;
    internal const short POLLOUT = 0x004;
    internal const short POLLERR = 0x008;
    internal const short POLLHUP = 0x010;
    internal const short POLLNVAL = 0x020;
    private const int EINTR = 4;

    private int _fd;

    private HostNode(int fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    /// <summary>The node's path.</summary>
    public string Path { get; }

    /// <summary>Opens <paramref name="path"/> read-write and non-blocking.</summary>
    /// <exception cref="System.IO.IOException">The node cannot be opened (the message names the errno).</exception>
    public static HostNode Open(string path)
    {
        var fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new System.IO.IOException($"cannot open {path}: errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)})");
        }
        return new HostNode(fd, path);
    }

    /// <summary>ioctl(2) with <paramref name="payload"/> as the argument: 0, or the positive errno.</summary>
    public int Ioctl<T>(ulong request, ref T payload)
        where T : unmanaged
    {
        fixed (T* argument = &payload)
        {
            return Ioctl(request, argument);
        }
    }

    /// <summary>ioctl(2) with no argument (an <c>_IO</c> request).</summary>
    public int Ioctl(ulong request) => Ioctl(request, null);

    private int Ioctl(ulong request, void* argument)
    {
        while (true)
        {
            if (ioctl(_fd, (nuint)request, argument) == 0)
            {
                return 0;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno != EINTR)
            {
                return errno is > 0 and <= 4095 ? errno : Constants.EIO;
            }
        }
    }

    /// <summary>poll(2) on the node: the returned events, 0 on timeout.</summary>
    public short Poll(short events, int timeoutMilliseconds)
    {
        var entry = new PollFd { fd = _fd, events = events };
        var ready = poll(&entry, 1, timeoutMilliseconds);
        return ready > 0 ? entry.revents : (short)0;
    }

    /// <summary>Maps <paramref name="length"/> bytes of the node's MMAP buffer at <paramref name="offset"/>; zero on failure.</summary>
    public IntPtr Map(uint offset, uint length)
    {
        var address = mmap(IntPtr.Zero, length, PROT_READ | PROT_WRITE, MAP_SHARED, _fd, (nint)offset);
        return address == new IntPtr(-1) ? IntPtr.Zero : address;
    }

    /// <summary>
    /// VIDIOC_EXPBUF of plane <paramref name="plane"/> of MMAP buffer <paramref name="index"/>: a dma-buf file
    /// descriptor, read-write and close-on-exec, in <paramref name="fd"/> (the caller closes it); 0 or the errno
    /// (ENOTTY where the driver cannot export, EINVAL where the queue's memory cannot).
    /// </summary>
    public int Export(uint type, uint index, uint plane, out int fd)
    {
        var payload = new v4l2_exportbuffer { type = type, index = index, plane = plane, flags = (uint)(O_RDWR | O_CLOEXEC) };
        var status = Ioctl(Ioctls.VIDIOC_EXPBUF.Descriptor.Request, ref payload);
        fd = status == 0 ? payload.fd : -1;
        return status;
    }

    /// <summary>Closes a descriptor <see cref="Export"/> returned.</summary>
    public static void CloseDescriptor(int fd)
    {
        if (fd >= 0)
        {
            close(fd);
        }
    }

    /// <summary>Unmaps what <see cref="Map"/> returned.</summary>
    public static void Unmap(IntPtr address, uint length)
    {
        if (address != IntPtr.Zero)
        {
            munmap(address, length);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        var fd = _fd;
        _fd = -1;
        if (fd >= 0)
        {
            close(fd);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int fd;
        public short events;
        public short revents;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int close(int fd);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int ioctl(int fd, nuint request, void* argument);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int poll(PollFd* fds, nuint count, int timeout);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial IntPtr mmap(IntPtr address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int munmap(IntPtr address, nuint length);
}
