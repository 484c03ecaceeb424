using System;
using System.Runtime.InteropServices;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>One received vhost-user message: header fields, payload and the descriptors that came with
/// it. Disposing closes the descriptors nobody took.</summary>
public sealed class VhostUserMessage : IDisposable
{
    private readonly UnixFileDescriptor?[] _fds;

    /// <summary>Wraps a received message; takes ownership of <paramref name="fds"/>.</summary>
    public VhostUserMessage(uint request, uint flags, byte[] payload, UnixFileDescriptor[] fds)
    {
        Request = request;
        Flags = flags;
        Payload = payload;
        _fds = fds;
    }

    /// <summary>The request type.</summary>
    public uint Request { get; }

    /// <summary>The header flags (version, reply, need_reply).</summary>
    public uint Flags { get; }

    /// <summary>The payload, exactly as long as the header's size.</summary>
    public byte[] Payload { get; }

    /// <summary>How many descriptors came with the message.</summary>
    public int FileDescriptorCount => _fds.Length;

    /// <summary>Whether the sender set need_reply.</summary>
    public bool NeedsReply => (Flags & VhostUserProtocol.NeedReplyFlag) != 0;

    /// <summary>Whether this is a reply.</summary>
    public bool IsReply => (Flags & VhostUserProtocol.ReplyFlag) != 0;

    /// <summary>Takes ownership of descriptor <paramref name="index"/>; null when absent or already taken.</summary>
    public UnixFileDescriptor? TakeFileDescriptor(int index)
    {
        if ((uint)index >= (uint)_fds.Length)
        {
            return null;
        }
        var fd = _fds[index];
        _fds[index] = null;
        return fd;
    }

    /// <summary>Reads a native-endian value at <paramref name="offset"/>; false when the payload is too short.</summary>
    public bool TryRead<T>(int offset, out T value)
        where T : unmanaged
    {
        if (offset < 0 || offset > Payload.Length || Payload.Length - offset < Marshal.SizeOf<T>())
        {
            value = default;
            return false;
        }
        value = MemoryMarshal.Read<T>(Payload.AsSpan(offset));
        return true;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        for (var i = 0; i < _fds.Length; i++)
        {
            _fds[i]?.Dispose();
            _fds[i] = null;
        }
    }
}
