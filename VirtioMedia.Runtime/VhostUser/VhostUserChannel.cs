using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using VirtioMedia.Runtime.VhostUser.Interop;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>
/// A vhost-user connection: a Unix stream socket carrying framed messages (12-byte header, payload)
/// with file descriptors as SCM_RIGHTS ancillary data on the first byte of a message, as the
/// specification's "Communication" section requires. Oversized payloads, too many descriptors and
/// truncated messages throw <see cref="VhostUserProtocolException"/>; the caller then drops the connection.
/// Sends are serialised; receiving is for one thread at a time.
/// </summary>
public sealed unsafe class VhostUserChannel : IDisposable
{
    private readonly UnixFileDescriptor _socket;
    private readonly object _sendGate = new();

    /// <summary>Takes ownership of a connected Unix stream socket.</summary>
    public VhostUserChannel(UnixFileDescriptor socket) => _socket = socket;

    /// <summary>How long the rest of a message may take to arrive once its first byte has (5 s by default).</summary>
    public TimeSpan MessageCompletionTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The socket, e.g. to pass to the other side with SET_BACKEND_REQ_FD.</summary>
    public UnixFileDescriptor Socket => _socket;

    /// <summary>Two connected channels (socketpair).</summary>
    public static (VhostUserChannel First, VhostUserChannel Second) CreatePair()
    {
        var (first, second) = CreateSocketPair();
        return (new VhostUserChannel(first), new VhostUserChannel(second));
    }

    /// <summary>Two connected Unix stream sockets.</summary>
    public static (UnixFileDescriptor First, UnixFileDescriptor Second) CreateSocketPair()
    {
        var pair = stackalloc int[2];
        LibC.Check(LibC.SocketPair(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0, pair), "socketpair");
        return (new UnixFileDescriptor(pair[0]), new UnixFileDescriptor(pair[1]));
    }

    /// <summary>Connects to a listening vhost-user socket.</summary>
    public static VhostUserChannel Connect(string path)
    {
        var fd = new UnixFileDescriptor(LibC.Check(LibC.Socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0), "socket"));
        try
        {
            using var lease = fd.Acquire();
            WithAddress(path, (address, length) => LibC.Check(LibC.Connect(lease.Fd, (void*)address, length), $"connect({path})"));
            return new VhostUserChannel(fd);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>Builds a sockaddr_un for <paramref name="path"/> (at most 107 bytes).</summary>
    internal static void WithAddress(string path, Func<IntPtr, uint, int> call)
    {
        const int pathOffset = 2; // sa_family_t
        const int pathCapacity = 108;
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length == 0 || bytes.Length >= pathCapacity)
        {
            throw new ArgumentException($"a Unix socket path is 1 to {pathCapacity - 1} bytes: {path}", nameof(path));
        }
        var address = stackalloc byte[pathOffset + pathCapacity];
        new Span<byte>(address, pathOffset + pathCapacity).Clear();
        *(ushort*)address = LibC.AF_UNIX;
        bytes.CopyTo(new Span<byte>(address + pathOffset, pathCapacity));
        call((IntPtr)address, (uint)(pathOffset + bytes.Length + 1));
    }

    /// <summary>Sends one message; <paramref name="fds"/> travel with its first byte.</summary>
    public void Send(uint request, uint flags, ReadOnlySpan<byte> payload, ReadOnlySpan<UnixFileDescriptor> fds = default)
    {
        if (payload.Length > VhostUserProtocol.MaxPayloadSize)
        {
            throw new ArgumentOutOfRangeException(nameof(payload), payload.Length, $"a payload is at most {VhostUserProtocol.MaxPayloadSize} bytes");
        }
        if (fds.Length > VhostUserProtocol.MaxFileDescriptors)
        {
            throw new ArgumentOutOfRangeException(nameof(fds), fds.Length, $"a message carries at most {VhostUserProtocol.MaxFileDescriptors} descriptors");
        }
        Span<byte> message = stackalloc byte[VhostUserProtocol.HeaderSize + payload.Length];
        MemoryMarshal.Write(message, in request);
        MemoryMarshal.Write(message.Slice(4), in flags);
        var size = (uint)payload.Length;
        MemoryMarshal.Write(message.Slice(8), in size);
        payload.CopyTo(message.Slice(VhostUserProtocol.HeaderSize));
        SendRaw(message, fds);
    }

    /// <summary>Sends bytes as they are, with descriptors on the first byte (tests use it to forge messages).</summary>
    public void SendRaw(ReadOnlySpan<byte> bytes, ReadOnlySpan<UnixFileDescriptor> fds = default)
    {
        var added = new bool[fds.Length];
        var rawFds = stackalloc int[Math.Max(fds.Length, 1)];
        try
        {
            for (var i = 0; i < fds.Length; i++)
            {
                fds[i].DangerousAddRef(ref added[i]);
                rawFds[i] = fds[i].Value;
            }
            lock (_sendGate)
            {
                using var socket = _socket.Acquire();
                SendAll(socket.Fd, bytes, rawFds, fds.Length);
            }
        }
        finally
        {
            for (var i = 0; i < fds.Length; i++)
            {
                if (added[i])
                {
                    fds[i].DangerousRelease();
                }
            }
        }
    }

    private static void SendAll(int socket, ReadOnlySpan<byte> bytes, int* fds, int fdCount)
    {
        var controlSize = fdCount == 0 ? 0 : LibC.ControlSpace(fdCount * sizeof(int));
        var control = stackalloc byte[Math.Max(controlSize, 1)];
        fixed (byte* start = bytes)
        {
            var sent = 0;
            while (sent < bytes.Length)
            {
                var vector = new LibC.IoVector { Base = start + sent, Length = (nuint)(bytes.Length - sent) };
                var header = new LibC.MessageHeader { Vectors = &vector, VectorCount = 1 };
                if (sent == 0 && fdCount > 0)
                {
                    new Span<byte>(control, controlSize).Clear();
                    var cmsg = (LibC.ControlMessageHeader*)control;
                    cmsg->Length = LibC.ControlLength(fdCount * sizeof(int));
                    cmsg->Level = LibC.SOL_SOCKET;
                    cmsg->Type = LibC.SCM_RIGHTS;
                    Buffer.MemoryCopy(fds, control + LibC.ControlAlign((nuint)sizeof(LibC.ControlMessageHeader)), fdCount * sizeof(int), fdCount * sizeof(int));
                    header.Control = control;
                    header.ControlLength = (nuint)controlSize;
                }
                var result = LibC.SendMessage(socket, &header, LibC.MSG_NOSIGNAL);
                if (result < 0)
                {
                    var errno = LibC.LastError;
                    if (errno == LibC.EINTR)
                    {
                        continue;
                    }
                    throw LibC.Failure("sendmsg", errno);
                }
                sent += (int)result;
            }
        }
    }

    /// <summary>
    /// Receives one message. Returns null when the other side closed the connection between messages.
    /// Throws <see cref="TimeoutException"/> when nothing arrives within <paramref name="timeout"/>
    /// (infinite when null), <see cref="VhostUserProtocolException"/> for a malformed message.
    /// </summary>
    public VhostUserMessage? Receive(TimeSpan? timeout = null)
    {
        using var lease = _socket.Acquire();
        var socket = lease.Fd;
        {
            if (!WaitReadable(socket, timeout))
            {
                throw new TimeoutException($"no vhost-user message within {timeout}");
            }
            Span<byte> header = stackalloc byte[VhostUserProtocol.HeaderSize];
            var fds = new List<UnixFileDescriptor>();
            try
            {
                var received = ReceiveFirst(socket, header, fds);
                if (received == 0)
                {
                    return null;
                }
                ReceiveExactly(socket, header.Slice(received), "header");
                var request = MemoryMarshal.Read<uint>(header);
                var flags = MemoryMarshal.Read<uint>(header.Slice(4));
                var size = MemoryMarshal.Read<uint>(header.Slice(8));
                if ((flags & VhostUserProtocol.VersionMask) != VhostUserProtocol.Version)
                {
                    throw new VhostUserProtocolException($"request {request}: version {flags & VhostUserProtocol.VersionMask}, expected {VhostUserProtocol.Version}");
                }
                if (size > VhostUserProtocol.MaxPayloadSize)
                {
                    throw new VhostUserProtocolException($"request {request}: payload of {size} bytes exceeds {VhostUserProtocol.MaxPayloadSize}");
                }
                var payload = new byte[size];
                ReceiveExactly(socket, payload, $"payload of request {request}");
                var message = new VhostUserMessage(request, flags, payload, fds.ToArray());
                fds.Clear();
                return message;
            }
            finally
            {
                foreach (var fd in fds)
                {
                    fd.Dispose();
                }
            }
        }
    }

    private static bool WaitReadable(int socket, TimeSpan? timeout)
    {
        var deadline = timeout is { } span ? Environment.TickCount64 + (long)span.TotalMilliseconds : long.MaxValue;
        while (true)
        {
            var remaining = deadline == long.MaxValue ? -1 : (int)Math.Clamp(deadline - Environment.TickCount64, 0, int.MaxValue);
            var descriptor = new LibC.PollDescriptor { Fd = socket, Events = LibC.POLLIN };
            var ready = LibC.Poll(&descriptor, 1, remaining);
            if (ready > 0)
            {
                return true; // readable, hung up or failed: the read says which
            }
            if (ready == 0)
            {
                return false;
            }
            if (LibC.LastError != LibC.EINTR)
            {
                throw LibC.Failure("poll", LibC.LastError);
            }
        }
    }

    private static int ReceiveFirst(int socket, Span<byte> header, List<UnixFileDescriptor> fds)
    {
        // One more slot than allowed: a sender that passes more than the maximum is detected by count
        // (or by MSG_CTRUNC beyond that) instead of silently losing descriptors.
        var controlSize = LibC.ControlSpace((VhostUserProtocol.MaxFileDescriptors + 1) * sizeof(int));
        var control = stackalloc byte[controlSize];
        fixed (byte* start = header)
        {
            while (true)
            {
                var vector = new LibC.IoVector { Base = start, Length = (nuint)header.Length };
                var message = new LibC.MessageHeader { Vectors = &vector, VectorCount = 1, Control = control, ControlLength = (nuint)controlSize };
                var result = LibC.ReceiveMessage(socket, &message, LibC.MSG_CMSG_CLOEXEC);
                if (result < 0)
                {
                    var errno = LibC.LastError;
                    if (errno == LibC.EINTR)
                    {
                        continue;
                    }
                    throw LibC.Failure("recvmsg", errno);
                }
                CollectDescriptors(&message, fds);
                if ((message.Flags & LibC.MSG_CTRUNC) != 0 || fds.Count > VhostUserProtocol.MaxFileDescriptors)
                {
                    throw new VhostUserProtocolException($"a message carries more than {VhostUserProtocol.MaxFileDescriptors} descriptors");
                }
                if (result == 0 && fds.Count > 0)
                {
                    throw new VhostUserProtocolException("descriptors arrived without a message");
                }
                return (int)result;
            }
        }
    }

    private static void CollectDescriptors(LibC.MessageHeader* message, List<UnixFileDescriptor> fds)
    {
        var headerSize = LibC.ControlAlign((nuint)sizeof(LibC.ControlMessageHeader));
        var offset = (nuint)0;
        while (offset + (nuint)sizeof(LibC.ControlMessageHeader) <= message->ControlLength)
        {
            var cmsg = (LibC.ControlMessageHeader*)((byte*)message->Control + offset);
            if (cmsg->Length < headerSize || offset + cmsg->Length > message->ControlLength)
            {
                break;
            }
            if (cmsg->Level == LibC.SOL_SOCKET && cmsg->Type == LibC.SCM_RIGHTS)
            {
                var count = (int)((cmsg->Length - headerSize) / sizeof(int));
                var data = (int*)((byte*)cmsg + headerSize);
                for (var i = 0; i < count; i++)
                {
                    fds.Add(new UnixFileDescriptor(data[i]));
                }
            }
            offset += LibC.ControlAlign(cmsg->Length);
        }
    }

    private void ReceiveExactly(int socket, Span<byte> buffer, string what)
    {
        fixed (byte* start = buffer)
        {
            var received = 0;
            while (received < buffer.Length)
            {
                if (!WaitReadable(socket, MessageCompletionTimeout))
                {
                    throw new VhostUserProtocolException($"{what} truncated: {received} of {buffer.Length} bytes, then nothing for {MessageCompletionTimeout}");
                }
                var result = LibC.Read(socket, start + received, (nuint)(buffer.Length - received));
                if (result < 0)
                {
                    var errno = LibC.LastError;
                    if (errno == LibC.EINTR)
                    {
                        continue;
                    }
                    throw LibC.Failure("read", errno);
                }
                if (result == 0)
                {
                    throw new VhostUserProtocolException($"{what} truncated: {received} of {buffer.Length} bytes, then the connection closed");
                }
                received += (int)result;
            }
        }
    }

    /// <summary>Shuts the socket down both ways: a blocked <see cref="Receive"/> returns, the other side sees the end.</summary>
    public void Shutdown()
    {
        if (!_socket.IsClosed)
        {
            _socket.With(socket => LibC.Shutdown(socket, LibC.SHUT_RDWR));
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        try
        {
            Shutdown();
        }
        catch (ObjectDisposedException)
        {
        }
        _socket.Dispose();
    }
}
