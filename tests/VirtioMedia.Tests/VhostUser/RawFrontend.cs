using System;
using System.Buffers.Binary;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>A hand-driven front-end: builds each message byte by byte from the numbers in
/// vhost-user.rst, so the tests do not lean on the library's own encoder.</summary>
internal sealed class RawFrontend(VhostUserChannel channel) : IDisposable
{
    public const uint Version = 0x1;
    public const uint Reply = 0x4;
    public const uint NeedReply = 0x8;

    public VhostUserChannel Channel => channel;

    public static byte[] Message(uint request, uint flags, ReadOnlySpan<byte> payload, uint? size = null)
    {
        var bytes = new byte[12 + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, request);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), size ?? (uint)payload.Length);
        payload.CopyTo(bytes.AsSpan(12));
        return bytes;
    }

    public static byte[] U64(ulong value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return bytes;
    }

    public static byte[] State(uint index, uint num)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, index);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), num);
        return bytes;
    }

    public void Send(uint request, uint flags, byte[] payload, params UnixFileDescriptor[] fds) =>
        channel.SendRaw(Message(request, flags, payload), fds);

    /// <summary>The next message, or null when the back-end closed the connection.</summary>
    public VhostUserMessage? Receive() => channel.Receive(TimeSpan.FromSeconds(5));

    /// <summary>Sends a request and returns the reply's payload, checking it is a reply to it.</summary>
    public byte[] Call(uint request, uint flags, byte[] payload, params UnixFileDescriptor[] fds)
    {
        Send(request, flags, payload, fds);
        using var reply = Receive() ?? throw new InvalidOperationException($"connection closed instead of a reply to {request}");
        if (reply.Request != request || reply.Flags != (Version | Reply))
        {
            throw new InvalidOperationException($"reply {reply.Request} flags 0x{reply.Flags:X} to request {request}");
        }
        return reply.Payload;
    }

    public ulong CallU64(uint request, uint flags, byte[] payload, params UnixFileDescriptor[] fds)
    {
        var reply = Call(request, flags, payload, fds);
        return reply.Length == 8 ? BinaryPrimitives.ReadUInt64LittleEndian(reply) : throw new InvalidOperationException($"{reply.Length}-byte u64 reply");
    }

    /// <summary>True when the back-end closed the connection (EOF) within 5 s.</summary>
    public bool Closed()
    {
        try
        {
            return channel.Receive(TimeSpan.FromSeconds(5)) is null;
        }
        catch (System.IO.IOException)
        {
            return true; // reset
        }
    }

    public void Dispose() => channel.Dispose();
}
