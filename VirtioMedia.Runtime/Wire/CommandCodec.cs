using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Wire;

/// <summary>
/// The commandq messages other than ioctls (OPEN, CLOSE, MMAP, MUNMAP) and the response header, over the
/// generated protocol structs. Driver role: <c>Encode*</c> commands, <see cref="DecodeResponse{T}"/>.
/// Device role: <see cref="PeekCommand"/>, <see cref="DecodeCommand{T}"/>, <see cref="EncodeResponse{T}"/>.
/// </summary>
public static class CommandCodec
{
    /// <summary>Driver: writes <c>virtio_media_cmd_open</c>.</summary>
    public static WireResult EncodeOpen(ref ChainWriter writer)
    {
        var command = new virtio_media_cmd_open { hdr = Header(Constants.VIRTIO_MEDIA_CMD_OPEN) };
        return Write(ref writer, command);
    }

    /// <summary>Driver: writes <c>virtio_media_cmd_close</c>.</summary>
    public static WireResult EncodeClose(ref ChainWriter writer, uint sessionId)
    {
        var command = new virtio_media_cmd_close { hdr = Header(Constants.VIRTIO_MEDIA_CMD_CLOSE), session_id = sessionId };
        return Write(ref writer, command);
    }

    /// <summary>Driver: writes <c>virtio_media_cmd_mmap</c>.</summary>
    public static WireResult EncodeMmap(ref ChainWriter writer, uint sessionId, uint flags, uint offset)
    {
        var command = new virtio_media_cmd_mmap { hdr = Header(Constants.VIRTIO_MEDIA_CMD_MMAP), session_id = sessionId, flags = flags, offset = offset };
        return Write(ref writer, command);
    }

    /// <summary>Driver: writes <c>virtio_media_cmd_munmap</c>.</summary>
    public static WireResult EncodeMunmap(ref ChainWriter writer, ulong driverAddress)
    {
        var command = new virtio_media_cmd_munmap { hdr = Header(Constants.VIRTIO_MEDIA_CMD_MUNMAP), driver_addr = driverAddress };
        return Write(ref writer, command);
    }

    /// <summary>
    /// Driver: reads a response. On a non-zero status the device may have written only the header: then
    /// <paramref name="response"/> holds just the header and <paramref name="status"/> the errno.
    /// </summary>
    public static WireResult DecodeResponse<T>(ref ChainReader reader, out T response, out int status)
        where T : unmanaged
    {
        response = default;
        status = 0;
        var start = reader;
        if (!reader.TryRead(out virtio_media_resp_header header))
        {
            return WireResult.Fail(Errno.EFAULT, "response shorter than its header");
        }
        status = unchecked((int)header.status);
        if (status < 0 || status > 4095)
        {
            return WireResult.Fail(Errno.EINVAL, "response status is not an errno");
        }
        reader = start;
        if (!reader.TryRead(out response))
        {
            if (status != 0)
            {
                // An error response may stop after the header.
                reader = start;
                reader.TrySkip(8);
                return WireResult.Ok;
            }
            return WireResult.Fail(Errno.EFAULT, "response shorter than its struct");
        }
        return WireResult.Ok;
    }

    /// <summary>Device: reads the command code (VIRTIO_MEDIA_CMD_*) without consuming anything.</summary>
    public static WireResult PeekCommand(ChainReader reader, out uint command)
    {
        command = 0;
        if (!reader.TryRead(out virtio_media_cmd_header header))
        {
            return WireResult.Fail(Errno.EINVAL, "command shorter than its header");
        }
        command = header.cmd;
        return WireResult.Ok;
    }

    /// <summary>Device: reads a whole command struct (header included) and checks its code.</summary>
    public static WireResult DecodeCommand<T>(ref ChainReader reader, uint expectedCommand, out T command)
        where T : unmanaged
    {
        var start = reader;
        if (!reader.TryRead(out command))
        {
            reader = start;
            return WireResult.Fail(Errno.EINVAL, "command shorter than its struct");
        }
        var header = System.Runtime.InteropServices.MemoryMarshal.Read<virtio_media_cmd_header>(
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(new System.ReadOnlySpan<T>(in command)));
        if (header.cmd != expectedCommand)
        {
            reader = start;
            return WireResult.Fail(Errno.EINVAL, "command code does not match");
        }
        return WireResult.Ok;
    }

    /// <summary>Device: writes a complete response struct.</summary>
    public static WireResult EncodeResponse<T>(ref ChainWriter writer, in T response)
        where T : unmanaged
        => writer.TryWrite(response) ? WireResult.Ok : WireResult.Fail(Errno.ENOSPC, "device-writable part too small for the response");

    /// <summary>Device: writes a response that is only the header (errors, and commands without a response payload).</summary>
    public static WireResult EncodeErrorResponse(ref ChainWriter writer, int errno)
        => EncodeResponse(ref writer, new virtio_media_resp_header { status = unchecked((uint)errno) });

    internal static virtio_media_cmd_header Header(ulong command) => new() { cmd = (uint)command };

    private static WireResult Write<T>(ref ChainWriter writer, in T command)
        where T : unmanaged
        => writer.TryWrite(command) ? WireResult.Ok : WireResult.Fail(Errno.ENOSPC, "device-readable part too small for the command");
}
