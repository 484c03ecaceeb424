using System;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Compliance.Running;
using static VirtioMedia.Abi.Constants;

namespace VirtioMedia.Compliance.Groups;

/// <summary>
/// What a robust device answers a driver that breaks the protocol: an errno, never a crash, a hang or a broken queue.
/// Each probe ends by checking that the device still opens a session and answers an ioctl.
/// </summary>
internal static class HostileDriverTests
{
    internal const string Group = "Hostile driver";
    private const string Rule = "bad input gets a Linux errno, never a crash or hang (spec: Device Operation, errors are Linux error codes)";

    public static readonly ComplianceTest[] All =
    [
        new(Group, "test truncated commands", false, TruncatedAsync) { Raw = true },
        new(Group, "test unknown command codes", false, UnknownCommandsAsync) { Raw = true },
        new(Group, "test unknown sessions", false, UnknownSessionsAsync) { Raw = true },
        new(Group, "test absurd counts", false, AbsurdCountsAsync) { Raw = true },
        new(Group, "test chains without room for an answer", false, NoRoomAsync) { Raw = true },
    ];

    private static async Task ExpectErrnoAsync(ComplianceContext context, byte[] request, int writable, string what)
    {
        var answer = await context.Raw.SendAsync(request, writable, context.Token).ConfigureAwait(false);
        var status = RawCommandChannel.Status(answer);
        context.Check(status is > 0 and < 4096, $"{what} was answered {VirtioMediaTests.Describe(answer)}, not an errno", Rule);
    }

    private static async Task AliveAsync(ComplianceContext context)
    {
        var session = await context.Raw.OpenAsync(context).ConfigureAwait(false);
        var header = Unsafe.SizeOf<virtio_media_resp_header>();
        var answer = await context.Raw.SendAsync(RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_G_FMT, new v4l2_format { type = context.Node.BufferType }), header + Unsafe.SizeOf<v4l2_format>(), context.Token).ConfigureAwait(false);
        context.Check(RawCommandChannel.Status(answer) == 0, "after the probe the device no longer answers VIDIOC_G_FMT on a new session", Rule);
        await context.Raw.SendAsync(RawCommandChannel.Close(session), header, context.Token).ConfigureAwait(false);
    }

    private static async Task TruncatedAsync(ComplianceContext context)
    {
        var session = await context.Raw.OpenAsync(context).ConfigureAwait(false);
        var format = RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_G_FMT, new v4l2_format { type = context.Node.BufferType });
        var probes = new (string Name, byte[] Bytes)[]
        {
            ("an OPEN of 4 bytes", RawCommandChannel.Open()[..4]),
            ("a CLOSE without its session id", RawCommandChannel.Close(session)[..8]),
            ("an IOCTL header without its code", format[..12]),
            ("a VIDIOC_G_FMT cut in its payload", format[..(format.Length / 2)]),
            ("an MMAP without its offset", RawCommandChannel.Mmap(session, 0)[..12]),
            ("an empty chain", []),
        };
        foreach (var (name, bytes) in probes)
        {
            await ExpectErrnoAsync(context, bytes, 256, name).ConfigureAwait(false);
        }
        await AliveAsync(context).ConfigureAwait(false);
    }

    private static async Task UnknownCommandsAsync(ComplianceContext context)
    {
        foreach (var code in new uint[] { 0, 6, 99, 0x8000_0000, uint.MaxValue })
        {
            var command = new byte[24];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(command, code);
            await ExpectErrnoAsync(context, command, 64, $"command code {code}").ConfigureAwait(false);
        }
        await AliveAsync(context).ConfigureAwait(false);
    }

    private static async Task UnknownSessionsAsync(ComplianceContext context)
    {
        const uint stranger = 0xFFFF_FF00;
        await ExpectErrnoAsync(context, RawCommandChannel.Close(stranger), 64, "a CLOSE of a session never opened").ConfigureAwait(false);
        await ExpectErrnoAsync(context, RawCommandChannel.Ioctl(stranger, Ioctls.VIDIOC_G_FMT, new v4l2_format { type = context.Node.BufferType }), 256, "a VIDIOC_G_FMT on a session never opened").ConfigureAwait(false);
        await ExpectErrnoAsync(context, RawCommandChannel.Mmap(stranger, 0), 64, "an MMAP on a session never opened").ConfigureAwait(false);
        var session = await context.Raw.OpenAsync(context).ConfigureAwait(false);
        await context.Raw.SendAsync(RawCommandChannel.Close(session), 8, context.Token).ConfigureAwait(false);
        await ExpectErrnoAsync(context, RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_G_FMT, new v4l2_format { type = context.Node.BufferType }), 256, "a VIDIOC_G_FMT on a closed session").ConfigureAwait(false);
        await AliveAsync(context).ConfigureAwait(false);
    }

    private static async Task AbsurdCountsAsync(ComplianceContext context)
    {
        var session = await context.Raw.OpenAsync(context).ConfigureAwait(false);
        await ExpectErrnoAsync(context, RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_S_EXT_CTRLS, new v4l2_ext_controls { which = V4L2_CTRL_WHICH_CUR_VAL, count = uint.MaxValue }), 256,
            "a VIDIOC_S_EXT_CTRLS claiming 2^32 - 1 controls").ConfigureAwait(false);
        var mplane = Probes.IsMultiPlanar(context.Node.BufferType);
        if (mplane)
        {
            await ExpectErrnoAsync(context, RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_QBUF, new v4l2_buffer { type = context.Node.BufferType, memory = V4L2_MEMORY_MMAP, length = uint.MaxValue }), 256,
                "a multi-planar VIDIOC_QBUF claiming 2^32 - 1 planes").ConfigureAwait(false);
        }
        var header = Unsafe.SizeOf<virtio_media_resp_header>();
        var huge = await context.Raw.SendAsync(RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_REQBUFS, new v4l2_requestbuffers { type = context.Node.BufferType, memory = V4L2_MEMORY_MMAP, count = uint.MaxValue }),
            header + Unsafe.SizeOf<v4l2_requestbuffers>(), context.Token).ConfigureAwait(false);
        if (RawCommandChannel.Status(huge) == 0)
        {
            var granted = System.Runtime.InteropServices.MemoryMarshal.Read<v4l2_requestbuffers>(huge.AsSpan(header));
            context.Check(granted.count <= VIDEO_MAX_FRAME, $"VIDIOC_REQBUFS of 2^32 - 1 buffers granted {granted.count}, more than VIDEO_MAX_FRAME ({VIDEO_MAX_FRAME})", "videodev2.h VIDEO_MAX_FRAME / " + Rule);
            await context.Raw.SendAsync(RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_REQBUFS, new v4l2_requestbuffers { type = context.Node.BufferType, memory = V4L2_MEMORY_MMAP, count = 0 }), 64, context.Token).ConfigureAwait(false);
        }
        else
        {
            context.Check(RawCommandChannel.Status(huge) is > 0 and < 4096, $"VIDIOC_REQBUFS of 2^32 - 1 buffers was answered {VirtioMediaTests.Describe(huge)}", Rule);
        }
        await context.Raw.SendAsync(RawCommandChannel.Close(session), 8, context.Token).ConfigureAwait(false);
        await AliveAsync(context).ConfigureAwait(false);
    }

    private static async Task NoRoomAsync(ComplianceContext context)
    {
        foreach (var room in new[] { 0, 4 })
        {
            var answer = await context.Raw.SendAsync(RawCommandChannel.Open(), room, context.Token).ConfigureAwait(false);
            context.Check(answer.Length <= room, $"the device wrote {answer.Length} bytes into {room} writable bytes", "virtio: the used length never exceeds the writable bytes");
        }
        await AliveAsync(context).ConfigureAwait(false);
    }
}
