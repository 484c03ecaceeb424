using System;
using System.Buffers.Binary;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Fuzzing;

/// <summary>
/// The back-end's framing of front-end messages: the input is a sequence of messages, each a descriptor count
/// (one byte), a length (two bytes, little-endian) and that many bytes (header and payload as they would come
/// off the socket), and each is given to <see cref="VhostUserRequestDecoder.Decode"/>. What must hold: no
/// exception, and a message called valid really is one (a 12-byte header of version 1 without the reply flag,
/// exactly as many payload bytes as the header announces, at most the protocol's payload and descriptor bounds).
/// </summary>
internal static class VhostUserMessagesTarget
{
    /// <summary>The largest message one record can carry (the header plus the protocol's largest payload).</summary>
    private const int MaxRecord = VhostUserProtocol.HeaderSize + VhostUserProtocol.MaxPayloadSize + 16;

    private static readonly byte[] Message = new byte[MaxRecord];

    public static void Run(byte[] data)
    {
        var input = new InputReader(data);
        Span<byte> message = Message;
        while (!input.AtEnd)
        {
            int descriptors = input.U8();
            var length = Math.Min((int)input.U16(), MaxRecord);
            var read = input.Fill(message.Slice(0, length));
            Check(message.Slice(0, read), descriptors);
        }
    }

    private static void Check(ReadOnlySpan<byte> message, int descriptors)
    {
        var decoded = VhostUserRequestDecoder.Decode(message, descriptors);
        if (message.Length >= VhostUserProtocol.HeaderSize
            && decoded.Request != BinaryPrimitives.ReadUInt32LittleEndian(message))
        {
            throw new InvalidOperationException($"decoded request {decoded.Request} is not the header's");
        }
        if (!decoded.IsValid)
        {
            return;
        }
        if (message.Length != VhostUserProtocol.HeaderSize + decoded.PayloadLength
            || decoded.PayloadLength > VhostUserProtocol.MaxPayloadSize
            || (decoded.Flags & VhostUserProtocol.VersionMask) != VhostUserProtocol.Version
            || (decoded.Flags & VhostUserProtocol.ReplyFlag) != 0
            || descriptors > VhostUserProtocol.MaxFileDescriptors)
        {
            throw new InvalidOperationException($"request {decoded.Request} of {message.Length} bytes with {descriptors} descriptors called valid");
        }
    }
}
