using System;
using System.Buffers.Binary;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>
/// The framing rules of the front-end's messages as a pure function over the bytes of one message and the
/// number of descriptors that came with it: the header (version, reply flag, size), and per request the
/// payload size and descriptor count vhost-user.rst gives it ("Front-end message types"). No socket, no
/// state, no allocation, no exception: every input yields a <see cref="VhostUserDecodedRequest"/>, so a
/// fuzzer can drive it directly. The rules on values (feature bits, ring numbers, addresses) need the
/// connection's state and stay with the back-end.
/// </summary>
public static class VhostUserRequestDecoder
{
    /// <summary>Decodes the header and checks the shape of a message of <paramref name="message"/>.Length
    /// bytes (header and payload) that came with <paramref name="fileDescriptorCount"/> descriptors.</summary>
    public static VhostUserDecodedRequest Decode(ReadOnlySpan<byte> message, int fileDescriptorCount)
    {
        if (message.Length < VhostUserProtocol.HeaderSize)
        {
            return new(VhostUserDecodeStatus.Truncated, 0, 0, 0, false);
        }
        var request = BinaryPrimitives.ReadUInt32LittleEndian(message);
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(message.Slice(4));
        var size = BinaryPrimitives.ReadUInt32LittleEndian(message.Slice(8));
        var status = CheckHeader(flags, size);
        if (status == VhostUserDecodeStatus.Valid)
        {
            var available = (uint)(message.Length - VhostUserProtocol.HeaderSize);
            status = available < size ? VhostUserDecodeStatus.Truncated
                : available > size ? VhostUserDecodeStatus.TrailingBytes
                : CheckPayload(request, message.Slice(VhostUserProtocol.HeaderSize), fileDescriptorCount);
        }
        return new(status, request, flags, size, HasExplicitReply(request));
    }

    /// <summary>The header rules: version 0x1, no reply flag, a payload of at most
    /// <see cref="VhostUserProtocol.MaxPayloadSize"/> bytes (checked before the payload is read).</summary>
    public static VhostUserDecodeStatus CheckHeader(uint flags, uint size) =>
        (flags & VhostUserProtocol.VersionMask) != VhostUserProtocol.Version ? VhostUserDecodeStatus.BadVersion
        : (flags & VhostUserProtocol.ReplyFlag) != 0 ? VhostUserDecodeStatus.FlaggedAsReply
        : size > VhostUserProtocol.MaxPayloadSize ? VhostUserDecodeStatus.PayloadTooLarge
        : VhostUserDecodeStatus.Valid;

    /// <summary>Whether <paramref name="request"/> is answered with a payload of its own rather than an ack
    /// ("REPLY_ACK": need_reply adds an ack only to requests that have no reply).</summary>
    public static bool HasExplicitReply(uint request) => request is VhostUserRequest.GET_FEATURES or VhostUserRequest.GET_PROTOCOL_FEATURES
        or VhostUserRequest.GET_VRING_BASE or VhostUserRequest.GET_QUEUE_NUM or VhostUserRequest.GET_CONFIG or VhostUserRequest.GET_SHMEM_CONFIG;

    /// <summary>The payload size and descriptor count each request takes.</summary>
    public static VhostUserDecodeStatus CheckPayload(uint request, ReadOnlySpan<byte> payload, int fileDescriptorCount)
    {
        if (fileDescriptorCount < 0 || fileDescriptorCount > VhostUserProtocol.MaxFileDescriptors)
        {
            return VhostUserDecodeStatus.BadDescriptorCount;
        }
        switch (request)
        {
            case VhostUserRequest.GET_FEATURES or VhostUserRequest.GET_PROTOCOL_FEATURES or VhostUserRequest.GET_QUEUE_NUM
                or VhostUserRequest.SET_OWNER or VhostUserRequest.RESET_OWNER or VhostUserRequest.GET_SHMEM_CONFIG:
                // No payload is defined; what a front-end sends along is ignored, but no descriptor may come.
                return Descriptors(fileDescriptorCount, 0);
            case VhostUserRequest.SET_FEATURES or VhostUserRequest.SET_PROTOCOL_FEATURES:
                return Shape(payload.Length == VhostUserProtocol.U64Size, fileDescriptorCount, 0);
            case VhostUserRequest.SET_VRING_NUM or VhostUserRequest.SET_VRING_BASE or VhostUserRequest.GET_VRING_BASE or VhostUserRequest.SET_VRING_ENABLE:
                return Shape(payload.Length == VhostUserProtocol.VringStateSize, fileDescriptorCount, 0);
            case VhostUserRequest.SET_VRING_ADDR:
                return Shape(payload.Length == VhostUserProtocol.VringAddressSize, fileDescriptorCount, 0);
            case VhostUserRequest.SET_VRING_KICK or VhostUserRequest.SET_VRING_CALL or VhostUserRequest.SET_VRING_ERR:
            {
                if (payload.Length != VhostUserProtocol.U64Size)
                {
                    return VhostUserDecodeStatus.BadPayloadSize;
                }
                // Bit 8 set: no descriptor ("invalid FD flag").
                var noFd = (BinaryPrimitives.ReadUInt64LittleEndian(payload) & VhostUserProtocol.InvalidFdFlag) != 0;
                return Descriptors(fileDescriptorCount, noFd ? 0 : 1);
            }
            case VhostUserRequest.SET_BACKEND_REQ_FD:
                return Descriptors(fileDescriptorCount, 1);
            case VhostUserRequest.SET_MEM_TABLE:
            {
                if (payload.Length < VhostUserProtocol.MemoryTableHeaderSize)
                {
                    return VhostUserDecodeStatus.BadPayloadSize;
                }
                var count = BinaryPrimitives.ReadUInt32LittleEndian(payload);
                if (count > VhostUserProtocol.MaxMemoryRegions)
                {
                    return VhostUserDecodeStatus.BadPayloadSize;
                }
                // The regions in use, or the full table of 8 (both seen in the wild).
                var needed = VhostUserProtocol.MemoryTableHeaderSize + (int)count * VhostUserProtocol.MemoryRegionSize;
                var full = VhostUserProtocol.MemoryTableHeaderSize + VhostUserProtocol.MaxMemoryRegions * VhostUserProtocol.MemoryRegionSize;
                return Shape(payload.Length == needed || payload.Length == full, fileDescriptorCount, (int)count);
            }
            case VhostUserRequest.GET_CONFIG or VhostUserRequest.SET_CONFIG:
            {
                if (payload.Length < VhostUserProtocol.ConfigHeaderSize)
                {
                    return VhostUserDecodeStatus.BadPayloadSize;
                }
                var size = BinaryPrimitives.ReadUInt32LittleEndian(payload.Slice(4));
                return Shape(size <= VhostUserProtocol.MaxConfigSize && payload.Length == VhostUserProtocol.ConfigHeaderSize + size, fileDescriptorCount, 0);
            }
            default:
                return VhostUserDecodeStatus.UnknownRequest;
        }
    }

    private static VhostUserDecodeStatus Shape(bool sizeFits, int fileDescriptorCount, int expectedDescriptors) =>
        !sizeFits ? VhostUserDecodeStatus.BadPayloadSize : Descriptors(fileDescriptorCount, expectedDescriptors);

    private static VhostUserDecodeStatus Descriptors(int fileDescriptorCount, int expected) =>
        fileDescriptorCount == expected ? VhostUserDecodeStatus.Valid : VhostUserDecodeStatus.BadDescriptorCount;
}
