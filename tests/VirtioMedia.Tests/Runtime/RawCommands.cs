using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VirtioMedia.Abi;

namespace VirtioMedia.Tests.Runtime;

/// <summary>Command bytes as virtio_media.h lays them out, for a <see cref="RawDriver"/> to send.</summary>
internal static class RawCommands
{
    /// <summary>virtio_media_resp_header: status, reserved.</summary>
    public const int RespHeader = 8;

    /// <summary>The status of an answer; <see cref="uint.MaxValue"/> when the device wrote no header.</summary>
    public static uint Status(byte[] answer) => answer.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(answer) : uint.MaxValue;

    public static byte[] Open() => Header(Constants.VIRTIO_MEDIA_CMD_OPEN, 8);

    /// <summary>The session id of an OPEN answer.</summary>
    public static uint SessionId(byte[] answer) => BinaryPrimitives.ReadUInt32LittleEndian(answer.AsSpan(8));

    public static byte[] Close(uint session)
    {
        var bytes = Header(Constants.VIRTIO_MEDIA_CMD_CLOSE, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), session);
        return bytes;
    }

    /// <summary>virtio_media_cmd_ioctl followed by the payload.</summary>
    public static byte[] Ioctl<T>(uint session, IoctlDescriptor ioctl, T payload)
        where T : unmanaged
    {
        var bytes = Header(Constants.VIRTIO_MEDIA_CMD_IOCTL, 16 + Unsafe.SizeOf<T>());
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), session);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), (uint)ioctl.Number);
        MemoryMarshal.Write(bytes.AsSpan(16), in payload);
        return bytes;
    }

    /// <summary>The payload that follows the header of an ioctl answer.</summary>
    public static T Payload<T>(byte[] answer)
        where T : unmanaged => MemoryMarshal.Read<T>(answer.AsSpan(RespHeader));

    private static byte[] Header(int command, int length)
    {
        var bytes = new byte[length];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)command);
        return bytes;
    }
}
