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
        new(Group, "test bad buffer references", false, BadBufferReferencesAsync) { Raw = true },
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

    // Buffer ioctls naming what the device never gave out: indexes past the queue, other memory types or buffer
    // types, plane counts the queue does not have, SHARED_PAGES whose SG entries point outside guest memory or do
    // not cover the buffer. A device that forwards buffers (a proxy) must refuse each before it reaches anything.
    private static async Task BadBufferReferencesAsync(ComplianceContext context)
    {
        var type = context.Node.BufferType;
        var mplane = Probes.IsMultiPlanar(type);
        var session = await context.Raw.OpenAsync(context).ConfigureAwait(false);
        var granted = await RequestBuffersAsync(context, session, V4L2_MEMORY_MMAP, 2).ConfigureAwait(false);
        if (granted > 0)
        {
            var planes = mplane ? 1u : 0u;
            var probes = new (string Name, v4l2_buffer Buffer)[]
            {
                ($"a VIDIOC_QBUF of index {granted} of {granted} buffers", new v4l2_buffer { index = granted, type = type, memory = V4L2_MEMORY_MMAP, length = planes }),
                ("a VIDIOC_QBUF of index 2^32 - 1", new v4l2_buffer { index = uint.MaxValue, type = type, memory = V4L2_MEMORY_MMAP, length = planes }),
                ("a VIDIOC_QBUF naming USERPTR on an MMAP queue", new v4l2_buffer { type = type, memory = V4L2_MEMORY_USERPTR, length = planes }),
                ("a VIDIOC_QBUF of memory type 99", new v4l2_buffer { type = type, memory = 99, length = planes }),
                ("a VIDIOC_QBUF of buffer type 99", new v4l2_buffer { type = 99, memory = V4L2_MEMORY_MMAP, length = planes }),
            };
            foreach (var (name, buffer) in probes)
            {
                await ExpectErrnoAsync(context, RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_QBUF, buffer), 512, name).ConfigureAwait(false);
            }
            await ExpectErrnoAsync(context, RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_QUERYBUF, new v4l2_buffer { index = granted, type = type, memory = V4L2_MEMORY_MMAP, length = planes }), 512,
                $"a VIDIOC_QUERYBUF of index {granted} of {granted} buffers").ConfigureAwait(false);
            if (mplane)
            {
                foreach (var count in new uint[] { 0, VIDEO_MAX_PLANES + 1 })
                {
                    var buffer = new v4l2_buffer { type = type, memory = V4L2_MEMORY_MMAP, length = count };
                    await ExpectErrnoAsync(context, WithPlanes(session, buffer, count), 1024, $"a multi-planar VIDIOC_QBUF of {count} planes").ConfigureAwait(false);
                }
            }
            await RequestBuffersAsync(context, session, V4L2_MEMORY_MMAP, 0).ConfigureAwait(false);
        }
        if (!mplane && await RequestBuffersAsync(context, session, V4L2_MEMORY_USERPTR, 1).ConfigureAwait(false) > 0)
        {
            const uint length = 64 * 1024;
            var outside = new virtio_media_sg_entry { start = 0xFFFF_FFFF_0000_0000, len = length };
            var empty = new virtio_media_sg_entry { start = 0, len = 0 };
            var probes = new (string Name, virtio_media_sg_entry[] Entries)[]
            {
                ("a SHARED_PAGES VIDIOC_QBUF whose SG entry lies outside guest memory", [outside]),
                ("a SHARED_PAGES VIDIOC_QBUF without SG entries", []),
                ("a SHARED_PAGES VIDIOC_QBUF of 64 empty SG entries", [.. System.Linq.Enumerable.Repeat(empty, 64)]),
            };
            foreach (var (name, entries) in probes)
            {
                var buffer = new v4l2_buffer { type = type, memory = V4L2_MEMORY_USERPTR, length = length, m = { userptr = 0x1000 } };
                await ExpectErrnoAsync(context, WithSgEntries(RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_QBUF, buffer), entries), 512, name).ConfigureAwait(false);
            }
            await RequestBuffersAsync(context, session, V4L2_MEMORY_USERPTR, 0).ConfigureAwait(false);
        }
        await context.Raw.SendAsync(RawCommandChannel.Close(session), 8, context.Token).ConfigureAwait(false);
        await AliveAsync(context).ConfigureAwait(false);
    }

    // REQBUFS on a raw session: the count granted, 0 when the device refuses (a memory type it does not serve).
    private static async Task<uint> RequestBuffersAsync(ComplianceContext context, uint session, uint memory, uint count)
    {
        var header = Unsafe.SizeOf<virtio_media_resp_header>();
        var answer = await context.Raw.SendAsync(RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_REQBUFS, new v4l2_requestbuffers { type = context.Node.BufferType, memory = memory, count = count }),
            header + Unsafe.SizeOf<v4l2_requestbuffers>(), context.Token).ConfigureAwait(false);
        return RawCommandChannel.Status(answer) == 0 && answer.Length >= header + Unsafe.SizeOf<v4l2_requestbuffers>()
            ? System.Runtime.InteropServices.MemoryMarshal.Read<v4l2_requestbuffers>(answer.AsSpan(header)).count
            : 0;
    }

    // A multi-planar buffer ioctl carries its plane array after the payload.
    private static byte[] WithPlanes(uint session, v4l2_buffer buffer, uint count)
    {
        var command = RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_QBUF, buffer);
        var planes = new byte[Unsafe.SizeOf<v4l2_plane>() * (int)Math.Min(count, VIDEO_MAX_PLANES)];
        return [.. command, .. planes];
    }

    private static byte[] WithSgEntries(byte[] command, virtio_media_sg_entry[] entries)
    {
        var bytes = new byte[command.Length + (entries.Length * Unsafe.SizeOf<virtio_media_sg_entry>())];
        command.CopyTo(bytes, 0);
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(entries.AsSpan()).CopyTo(bytes.AsSpan(command.Length));
        return bytes;
    }
}
