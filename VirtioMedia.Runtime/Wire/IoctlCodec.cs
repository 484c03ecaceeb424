using System;
using System.Buffers.Binary;
using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Wire;

/// <summary>
/// VIRTIO_MEDIA_CMD_IOCTL for every ioctl of the generated table, driven by <see cref="Ioctls"/> (the direction
/// decides where the payload travels) and <see cref="Trailers"/> (what follows it). Wire order in each part:
/// header, payload, array elements, SG lists (device-readable part only), UUIDs.
/// Driver role: <see cref="EncodeRequest"/>, <see cref="DecodeResponse"/>. Device role: <see cref="DecodeRequest"/>,
/// <see cref="EncodeResponse"/>. No method throws on anything the peer sent; pointer values are carried unchanged.
/// </summary>
public static class IoctlCodec
{
    private const int CommandSize = 16; // virtio_media_cmd_ioctl
    private const int ResponseHeaderSize = 8; // virtio_media_resp_header
    private const int SgEntrySize = 16; // virtio_media_sg_entry

    /// <summary>
    /// Driver: writes the device-readable part. The message's trailers must match its payload: as many elements
    /// as the payload's count field, SG entries covering each list's length exactly, one UUID per element (or one).
    /// Nothing is written when the result is a failure.
    /// </summary>
    public static WireResult EncodeRequest(IoctlMessage message, ref ChainWriter writer)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Ioctl is not { } ioctl)
        {
            return WireResult.Fail(Errno.EINVAL, "the message has no ioctl");
        }
        long required = CommandSize;
        var layout = default(Layout);
        if (ioctl.IsDeviceReadable)
        {
            var result = Layout.Of(message.Rule, message.Payload, out layout);
            if (!result.IsSuccess)
            {
                return result;
            }
            if (layout.ElementCount != message.ElementCount)
            {
                return WireResult.Fail(Errno.EINVAL, "ElementCount differs from the payload's count field");
            }
            if (layout.UuidCount != message.UuidCount)
            {
                return WireResult.Fail(Errno.EINVAL, "UuidCount differs from what the payload's memory type needs");
            }
            result = CheckSgCoverage(message, layout);
            if (!result.IsSuccess)
            {
                return result;
            }
            required += message.Payload.Length + message.Elements.Length + (long)message.SgEntryCount * SgEntrySize + message.Uuids.Length;
        }
        if (writer.Remaining < required)
        {
            return WireResult.Fail(Errno.ENOSPC, "device-readable part too small for the command");
        }
        var command = new virtio_media_cmd_ioctl
        {
            hdr = CommandCodec.Header(Constants.VIRTIO_MEDIA_CMD_IOCTL),
            session_id = message.SessionId,
            code = (uint)ioctl.Number,
        };
        writer.TryWrite(command);
        if (ioctl.IsDeviceReadable)
        {
            writer.TryWrite(message.Payload);
            writer.TryWrite(message.Elements);
            writer.TryWrite(System.Runtime.InteropServices.MemoryMarshal.AsBytes(message.SgEntries));
            writer.TryWrite(message.Uuids);
        }
        message.ResponseElementCount = ioctl.IsDeviceReadable ? layout.ElementCount : 0;
        message.ResponseUuidCount = ioctl.IsDeviceReadable && !layout.UuidReadableOnly ? layout.UuidCount : 0;
        return WireResult.Ok;
    }

    /// <summary>
    /// Driver: reads the device-writable part into <paramref name="message"/>. <paramref name="status"/> is the
    /// device's errno (0 on success). An error response that stops after the header leaves the payload as it was.
    /// A response that is truncated, claims more elements than the request carried, or has a status that is not
    /// an errno is a failure, and then the message is left as it was.
    /// </summary>
    public static WireResult DecodeResponse(ref ChainReader reader, IoctlMessage message, out int status)
    {
        ArgumentNullException.ThrowIfNull(message);
        status = 0;
        if (message.Ioctl is not { } ioctl)
        {
            return WireResult.Fail(Errno.EINVAL, "the message has no ioctl");
        }
        if (!reader.TryRead(out virtio_media_resp_header header))
        {
            return WireResult.Fail(Errno.EFAULT, "response shorter than its header");
        }
        if (header.status > 4095)
        {
            return WireResult.Fail(Errno.EINVAL, "response status is not an errno");
        }
        status = (int)header.status;
        if (!ioctl.IsDeviceWritable || (status != 0 && reader.Remaining == 0))
        {
            return WireResult.Ok;
        }
        var elementSize = message.Rule?.Array?.ElementSize ?? 0;
        var expected = (long)ioctl.PayloadSize + (long)message.ResponseElementCount * elementSize + (long)message.ResponseUuidCount * IoctlMessage.UuidSize;
        if (reader.Remaining < expected)
        {
            return WireResult.Fail(Errno.EFAULT, "response shorter than its payload and trailers");
        }
        Span<byte> payload = stackalloc byte[ioctl.PayloadSize];
        reader.TryRead(payload);
        if (message.Rule?.Array is { } array && array.When.Matches(payload)
            && BinaryPrimitives.ReadUInt32LittleEndian(payload.Slice(array.CountOffset)) > (uint)message.ResponseElementCount)
        {
            return WireResult.Fail(Errno.EINVAL, "response claims more elements than the request carried");
        }
        payload.CopyTo(message.Payload);
        message.ElementCount = message.ResponseElementCount;
        reader.TryRead(message.Elements);
        message.UuidCount = message.ResponseUuidCount;
        reader.TryRead(message.Uuids);
        return WireResult.Ok;
    }

    /// <summary>
    /// Device: reads the device-readable part of an ioctl command (header included) into <paramref name="message"/>.
    /// Fails with ENOTTY for unknown codes and for the ioctls the specification replaces, EINVAL for malformed
    /// fields and counts, EFAULT for a truncated chain, ENOMEM when SG entries exceed the message's capacity,
    /// EOVERFLOW when an SG entry wraps the address space. The failure's errno is what the device answers.
    /// </summary>
    public static WireResult DecodeRequest(ref ChainReader reader, IoctlMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.Clear();
        if (!reader.TryRead(out virtio_media_cmd_ioctl command))
        {
            return WireResult.Fail(Errno.EINVAL, "command shorter than virtio_media_cmd_ioctl");
        }
        if (command.hdr.cmd != Constants.VIRTIO_MEDIA_CMD_IOCTL)
        {
            return WireResult.Fail(Errno.EINVAL, "not an ioctl command");
        }
        if (command.code > int.MaxValue || Ioctls.FindByNumber((int)command.code) is not { } ioctl)
        {
            return WireResult.Fail(Errno.ENOTTY, "unknown ioctl code");
        }
        if (Trailers.IsUnsupported(ioctl.Number))
        {
            return WireResult.Fail(Errno.ENOTTY, "ioctl replaced by another mechanism in virtio-media");
        }
        message.Reset(ioctl, command.session_id);
        if (!ioctl.IsDeviceReadable)
        {
            return WireResult.Ok;
        }
        if (!reader.TryRead(message.Payload))
        {
            return WireResult.Fail(Errno.EFAULT, "chain ends inside the payload");
        }
        var result = Layout.Of(message.Rule, message.Payload, out var layout);
        if (!result.IsSuccess)
        {
            return result;
        }
        var elementSize = message.Rule?.Array?.ElementSize ?? 0;
        if (reader.Remaining < (long)layout.ElementCount * elementSize)
        {
            return WireResult.Fail(Errno.EFAULT, "chain ends inside the array");
        }
        message.ElementCount = layout.ElementCount;
        reader.TryRead(message.Elements);
        if (layout.ElementCount > 0)
        {
            message.RequestPointer = BinaryPrimitives.ReadUInt64LittleEndian(message.Payload.Slice(message.Rule!.Array!.PointerOffset));
        }
        result = ReadSgLists(ref reader, message, layout);
        if (!result.IsSuccess)
        {
            return result;
        }
        if (reader.Remaining < (long)layout.UuidCount * IoctlMessage.UuidSize)
        {
            return WireResult.Fail(Errno.EFAULT, "chain ends inside the UUIDs");
        }
        message.UuidCount = layout.UuidCount;
        reader.TryRead(message.Uuids);
        message.ResponseElementCount = layout.ElementCount;
        message.ResponseUuidCount = layout.UuidReadableOnly ? 0 : layout.UuidCount;
        message.KeepRequestCopy();
        return WireResult.Ok;
    }

    /// <summary>
    /// Device: writes the device-writable part: the response header with <paramref name="status"/> and, when
    /// <paramref name="includePayload"/> and the ioctl is device-writable, the payload, the array elements and UUIDs
    /// in the layout the request fixed. The array pointer, and the fields the trailer rule preserves (userptr values,
    /// fd placeholders), are written back exactly as the driver sent them. When the
    /// part is too small, or the payload now claims more elements than the request carried, only a header with the
    /// failure's errno is written (if it fits) and the failure is returned.
    /// </summary>
    public static WireResult EncodeResponse(IoctlMessage message, int status, bool includePayload, ref ChainWriter writer)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Ioctl is not { } ioctl)
        {
            var answer = status == 0 ? Errno.EINVAL : status;
            var written = CommandCodec.EncodeErrorResponse(ref writer, answer);
            return !written.IsSuccess ? written : status == 0 ? WireResult.Fail(Errno.EINVAL, "the message has no ioctl") : WireResult.Ok;
        }
        if (!includePayload || !ioctl.IsDeviceWritable)
        {
            return CommandCodec.EncodeErrorResponse(ref writer, status);
        }
        if (message.RequestPointer is { } pointer)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(message.Payload.Slice(message.Rule!.Array!.PointerOffset), pointer);
        }
        // Pointers and fd placeholders the specification says the device returns unchanged (trailers.json "preserve").
        message.RestorePreserved(message.ResponseElementCount);
        if (message.Rule?.Array is { } array && array.When.Matches(message.Payload)
            && BinaryPrimitives.ReadUInt32LittleEndian(message.Payload.Slice(array.CountOffset)) > (uint)message.ResponseElementCount)
        {
            CommandCodec.EncodeErrorResponse(ref writer, Errno.EINVAL);
            return WireResult.Fail(Errno.EINVAL, "the payload claims more elements than the request carried");
        }
        var elementSize = message.Rule?.Array?.ElementSize ?? 0;
        var required = ResponseHeaderSize + (long)ioctl.PayloadSize + (long)message.ResponseElementCount * elementSize + (long)message.ResponseUuidCount * IoctlMessage.UuidSize;
        if (writer.Remaining < required)
        {
            CommandCodec.EncodeErrorResponse(ref writer, Errno.ENOSPC);
            return WireResult.Fail(Errno.ENOSPC, "device-writable part too small for the response");
        }
        writer.TryWrite(new virtio_media_resp_header { status = unchecked((uint)status) });
        writer.TryWrite(message.Payload);
        // The elements and UUIDs the request fixed, whatever counts the handler left in the message.
        writer.TryWrite(message.ElementBuffer(message.ResponseElementCount));
        writer.TryWrite(message.UuidBuffer(message.ResponseUuidCount));
        return WireResult.Ok;
    }

    private static WireResult CheckSgCoverage(IoctlMessage message, in Layout layout)
    {
        var entries = message.SgEntries;
        var next = 0;
        for (var list = 0; list < layout.SgListCount; list++)
        {
            ulong covered = 0;
            var length = layout.SgLength(message.Payload, message.Elements, message.Rule!, list);
            while (covered < length)
            {
                if (next >= entries.Length)
                {
                    return WireResult.Fail(Errno.EINVAL, "SG entries do not cover a list's length");
                }
                var entry = entries[next++];
                if (entry.len == 0 || entry.start > ulong.MaxValue - entry.len)
                {
                    return WireResult.Fail(Errno.EINVAL, "SG entry empty or wrapping the address space");
                }
                covered += entry.len;
            }
            if (covered != length)
            {
                return WireResult.Fail(Errno.EINVAL, "SG entries cover more than a list's length");
            }
        }
        return next == entries.Length ? WireResult.Ok : WireResult.Fail(Errno.EINVAL, "SG entries left over after the last list");
    }

    private static WireResult ReadSgLists(ref ChainReader reader, IoctlMessage message, in Layout layout)
    {
        var buffer = message.SgBuffer;
        var starts = message.SgListStarts(layout.SgListCount);
        var count = 0;
        for (var list = 0; list < layout.SgListCount; list++)
        {
            starts[list] = count;
            ulong covered = 0;
            var length = layout.SgLength(message.Payload, message.Elements, message.Rule!, list);
            while (covered < length)
            {
                if (count == buffer.Length)
                {
                    return WireResult.Fail(Errno.ENOMEM, "more SG entries than the device reserved");
                }
                if (!reader.TryRead(out buffer[count]))
                {
                    return WireResult.Fail(Errno.EFAULT, "chain ends inside an SG list");
                }
                var entry = buffer[count++];
                if (entry.len == 0)
                {
                    return WireResult.Fail(Errno.EINVAL, "empty SG entry");
                }
                if (entry.start > ulong.MaxValue - entry.len)
                {
                    return WireResult.Fail(Errno.EOVERFLOW, "SG entry wraps the address space");
                }
                covered += entry.len;
            }
            if (covered != length)
            {
                return WireResult.Fail(Errno.EINVAL, "SG entries cover more than the declared length");
            }
        }
        starts[layout.SgListCount] = count;
        message.SgEntryCount = count;
        return WireResult.Ok;
    }

    /// <summary>Which trailers a payload carries, from its rule and its fields.</summary>
    private readonly struct Layout
    {
        public int ElementCount { get; init; }
        public int SgListCount { get; init; }
        public bool SgPerElement { get; init; }
        public int UuidCount { get; init; }
        public bool UuidReadableOnly { get; init; }

        public static WireResult Of(TrailerRule? rule, ReadOnlySpan<byte> payload, out Layout layout)
        {
            layout = default;
            if (rule is null)
            {
                return WireResult.Ok;
            }
            var arrayActive = rule.Array is { } array && array.When.Matches(payload);
            var count = 0;
            if (arrayActive)
            {
                var claimed = BinaryPrimitives.ReadUInt32LittleEndian(payload.Slice(rule.Array!.CountOffset));
                if (claimed > (uint)rule.Array.MaxCount)
                {
                    return WireResult.Fail(Errno.EINVAL, "array count above its limit");
                }
                count = (int)claimed;
            }
            var sgLists = 0;
            var sgPerElement = false;
            if (rule.Sg is { } sg && sg.When.Matches(payload))
            {
                if (arrayActive && sg.ElementLengthOffset >= 0)
                {
                    sgLists = count;
                    sgPerElement = true;
                }
                else if (!arrayActive && sg.LengthOffset >= 0)
                {
                    sgLists = 1;
                }
            }
            var uuids = rule.Uuid is { } uuid && uuid.When.Matches(payload) ? (arrayActive ? count : 1) : 0;
            layout = new Layout
            {
                ElementCount = count,
                SgListCount = sgLists,
                SgPerElement = sgPerElement,
                UuidCount = uuids,
                UuidReadableOnly = rule.Uuid?.DeviceReadableOnly ?? false,
            };
            return WireResult.Ok;
        }

        /// <summary>The bytes list <paramref name="list"/> covers: an element's length field, or the payload's.</summary>
        public ulong SgLength(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> elements, TrailerRule rule, int list) => SgPerElement
            ? BinaryPrimitives.ReadUInt32LittleEndian(elements.Slice(list * rule.Array!.ElementSize + rule.Sg!.ElementLengthOffset))
            : BinaryPrimitives.ReadUInt32LittleEndian(payload.Slice(rule.Sg!.LengthOffset));
    }
}
