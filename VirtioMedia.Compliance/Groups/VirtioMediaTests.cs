using System;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Compliance.Running;
using VirtioMedia.Runtime.Driver;
using static VirtioMedia.Abi.Constants;

namespace VirtioMedia.Compliance.Groups;

/// <summary>
/// Every device normative statement of the virtio-media specification (shared/spec, virtio-media-description.tex),
/// one test each, named by the statement's label.
/// </summary>
internal static class VirtioMediaTests
{
    private const string Group = "virtio-media device statements";

    public static readonly ComplianceTest[] All =
    [
        new(Group, "test Open device", false, OpenDeviceAsync),
        new(Group, "test V4L2 ioctls", false, PayloadWrittenBackAsync) { Raw = true },
        new(Group, "test Pointers in V4L2 ioctls", false, PointersAsync),
        new(Group, "test Unsupported ioctls", false, UnsupportedIoctlsAsync) { Raw = true },
        new(Group, "test Mapping a MMAP buffer", false, MappingAsync),
        new(Group, "test Unmapping a MMAP buffer", false, UnmappingAsync),
        new(Group, "test Shared Pages", false, SharedPagesAsync),
        new(Group, "test Virtio Object", false, VirtioObjectAsync),
        new(Group, "test Device-side error", false, DeviceErrorAsync),
    ];

    private static async Task OpenDeviceAsync(ComplianceContext context)
    {
        const string source = "spec: Open device (a new session_id is not used by any other open session)";
        var sessions = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => context.OpenAsync())).ConfigureAwait(false);
        context.Check(sessions.Select(s => s.Id).Distinct().Count() == sessions.Length, "16 concurrent OPENs answered a session id twice", source);
        var reopened = await context.OpenAsync().ConfigureAwait(false);
        context.Check(sessions.All(s => s.Id != reopened.Id), $"a 17th OPEN answered id {reopened.Id}, which an open session has", source);
        foreach (var session in sessions)
        {
            var answer = await session.VIDIOC_G_FMT(new v4l2_format { type = context.Node.BufferType }, null, context.Token).ConfigureAwait(false);
            context.Expect(answer.Status, 0, $"VIDIOC_G_FMT on session {session.Id}", source);
        }
    }

    private static async Task PayloadWrittenBackAsync(ComplianceContext context)
    {
        const string source = "spec: V4L2 ioctls (on success the device writes the payload in the device-writable part)";
        var raw = context.Raw;
        var session = await raw.OpenAsync(context).ConfigureAwait(false);
        var header = Unsafe.SizeOf<virtio_media_resp_header>();
        var format = await raw.SendAsync(RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_G_FMT, new v4l2_format { type = context.Node.BufferType }), header + Unsafe.SizeOf<v4l2_format>(), context.Token).ConfigureAwait(false);
        context.Check(RawCommandChannel.Status(format) == 0, "VIDIOC_G_FMT failed", source);
        context.Check(format.Length == header + Unsafe.SizeOf<v4l2_format>(), $"a successful VIDIOC_G_FMT wrote {format.Length} bytes, not the header and the {Unsafe.SizeOf<v4l2_format>()}-byte payload", source);
        var echoed = MemoryMarshal.Read<v4l2_format>(format.AsSpan(header));
        context.Check(echoed.type == context.Node.BufferType, "the payload written back is not a v4l2_format of the node's type", source);
        var description = await raw.SendAsync(RawCommandChannel.Ioctl(session, Ioctls.VIDIOC_ENUM_FMT, new v4l2_fmtdesc { type = context.Node.BufferType }), header + Unsafe.SizeOf<v4l2_fmtdesc>(), context.Token).ConfigureAwait(false);
        context.Check(RawCommandChannel.Status(description) != 0 || description.Length == header + Unsafe.SizeOf<v4l2_fmtdesc>(), "a successful VIDIOC_ENUM_FMT did not write its payload back", source);
        await raw.SendAsync(RawCommandChannel.Close(session), header, context.Token).ConfigureAwait(false);
    }

    private static async Task PointersAsync(ComplianceContext context)
    {
        const string source = "spec: Pointers in V4L2 ioctls (pointer values are returned unchanged)";
        const ulong pointer = 0x5A5A_0000_1000;
        var session = await context.OpenAsync().ConfigureAwait(false);
        var checkedOne = false;
        var first = await session.VIDIOC_QUERY_EXT_CTRL(new v4l2_query_ext_ctrl { id = V4L2_CTRL_FLAG_NEXT_CTRL }, null, context.Token).ConfigureAwait(false);
        if (first.Status == 0 && first.Payload.type != V4L2_CTRL_TYPE_CTRL_CLASS)
        {
            var controls = new[] { new v4l2_ext_control { id = first.Payload.id } };
            var answer = await session.VIDIOC_G_EXT_CTRLS(new v4l2_ext_controls { which = V4L2_CTRL_WHICH_CUR_VAL, count = 1, controls = pointer },
                new IoctlExtras { Elements = MemoryMarshal.AsBytes(controls.AsSpan()).ToArray() }, context.Token).ConfigureAwait(false);
            if (answer.Status == 0)
            {
                context.Check(answer.Payload.controls == pointer, $"VIDIOC_G_EXT_CTRLS returned controls = 0x{answer.Payload.controls:x}, not the 0x{pointer:x} sent", source);
                checkedOne = true;
            }
        }
        if (Probes.IsMultiPlanar(context.Node.BufferType))
        {
            var (mmap, userptr, _, _) = await Probes.MemoryTypesAsync(session, context.Node.BufferType, context.Token).ConfigureAwait(false);
            var memory = mmap ? V4L2_MEMORY_MMAP : userptr ? V4L2_MEMORY_USERPTR : 0u;
            if (memory != 0)
            {
                context.Expect((await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = context.Node.BufferType, memory = memory, count = 1 }, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_REQBUFS(1)", source);
                var request = new v4l2_buffer { type = context.Node.BufferType, memory = memory, length = VIDEO_MAX_PLANES };
                request.m.planes = pointer;
                var answer = await session.VIDIOC_QUERYBUF(request, Probes.PlaneExtras(context.Node.BufferType), context.Token).ConfigureAwait(false);
                context.Expect(answer.Status, 0, "VIDIOC_QUERYBUF", source);
                context.Check(answer.Payload.m.planes == pointer, $"VIDIOC_QUERYBUF returned m.planes = 0x{answer.Payload.m.planes:x}, not the 0x{pointer:x} sent", source);
                await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = context.Node.BufferType, memory = memory, count = 0 }, null, context.Token).ConfigureAwait(false);
                checkedOne = true;
            }
        }
        if (!checkedOne)
        {
            throw ComplianceContext.NotSupported("no control and no multi-planar buffer to carry a pointer");
        }
    }

    private static async Task UnsupportedIoctlsAsync(ComplianceContext context)
    {
        const string source = "spec: Unsupported ioctls (the device returns ENOTTY)";
        var raw = context.Raw;
        var session = await raw.OpenAsync(context).ConfigureAwait(false);
        foreach (var code in new uint[] { 1, 0xFF, 0x1000, 0x7FFF_FFFF })
        {
            var answer = await raw.SendAsync(RawCommandChannel.Ioctl(session, code, new byte[64]), 8 + 64, context.Token).ConfigureAwait(false);
            context.Check(RawCommandChannel.Status(answer) == ENOTTY, $"ioctl code 0x{code:x}, which V4L2 does not define, answered {Describe(answer)}, expected ENOTTY", source);
        }
        await raw.SendAsync(RawCommandChannel.Close(session), 8, context.Token).ConfigureAwait(false);
    }

    internal static string Describe(byte[] answer) => RawCommandChannel.Status(answer) is { } status ? ErrnoNames.Of((int)status) : "nothing (no response header)";

    private static async Task<(DriverSession Session, v4l2_plane[] Planes)> OneMmapBufferAsync(ComplianceContext context, uint count)
    {
        var session = await context.OpenAsync().ConfigureAwait(false);
        var (mmap, _, _, _) = await Probes.MemoryTypesAsync(session, context.Node.BufferType, context.Token).ConfigureAwait(false);
        if (!mmap)
        {
            throw ComplianceContext.NotSupported("no MMAP buffers (no shared memory region 0)");
        }
        context.Expect((await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = context.Node.BufferType, memory = V4L2_MEMORY_MMAP, count = count }, null, context.Token).ConfigureAwait(false)).Status, 0, $"VIDIOC_REQBUFS({count})", "v4l2-test-buffers.cpp, testMmap");
        var (status, _, planes) = await Probes.QueryBufferAsync(session, context.Node.BufferType, V4L2_MEMORY_MMAP, 0, context.Token).ConfigureAwait(false);
        context.Expect(status, 0, "VIDIOC_QUERYBUF(0)", "v4l2-test-buffers.cpp, testMmap");
        return (session, planes);
    }

    private static async Task MappingAsync(ComplianceContext context)
    {
        const string source = "spec: Mapping a MMAP buffer (len equals the length of the buffer)";
        var (session, _) = await OneMmapBufferAsync(context, 2).ConfigureAwait(false);
        for (uint index = 0; index < 2; index++)
        {
            var (_, _, planes) = await Probes.QueryBufferAsync(session, context.Node.BufferType, V4L2_MEMORY_MMAP, index, context.Token).ConfigureAwait(false);
            foreach (var plane in planes)
            {
                var map = await session.MapAsync(plane.m.mem_offset, writable: true, context.Token).ConfigureAwait(false);
                context.Check(map.Length == plane.length, $"MMAP of buffer {index} answered len {map.Length}, the plane is {plane.length} bytes", source);
                await context.Driver.UnmapAsync(map, context.Token).ConfigureAwait(false);
            }
        }
        try
        {
            var stray = await session.MapAsync(0xFFFF_F000, writable: true, context.Token).ConfigureAwait(false);
            throw new ComplianceFailure($"MMAP of offset 0xfffff000, which no buffer has, was answered with a mapping of {stray.Length} bytes [spec: Mapping a MMAP buffer]");
        }
        catch (DeviceErrorException)
        {
            // Refused with an errno, as it must be.
        }
    }

    private static async Task UnmappingAsync(ComplianceContext context)
    {
        const string source = "spec: Unmapping a MMAP buffer (mappings stay valid until MUNMAP, even after the buffer or its session is gone)";
        var (session, planes) = await OneMmapBufferAsync(context, 1).ConfigureAwait(false);
        var map = await session.MapAsync(planes[0].m.mem_offset, writable: true, context.Token).ConfigureAwait(false);
        var pattern = Enumerable.Range(0, 256).Select(i => (byte)(i * 7 + 3)).ToArray();
        pattern.CopyTo(map.Span);
        context.Expect((await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = context.Node.BufferType, memory = V4L2_MEMORY_MMAP, count = 0 }, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_REQBUFS(0)", source);
        context.Check(!map.IsRevoked && map.Span[..256].SequenceEqual(pattern), "the mapping lost its contents or was unmapped by REQBUFS(0), before MUNMAP", source);
        await session.CloseAsync(context.Token).ConfigureAwait(false);
        context.Check(!map.IsRevoked && map.Span[..256].SequenceEqual(pattern), "the mapping lost its contents or was unmapped when its session closed, before MUNMAP", source);
        await context.Driver.UnmapAsync(map, context.Token).ConfigureAwait(false);
    }

    private static async Task SharedPagesAsync(ComplianceContext context)
    {
        const string source = "spec: Shared Pages (m.userptr is returned unchanged)";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var (_, userptr, _, _) = await Probes.MemoryTypesAsync(session, context.Node.BufferType, context.Token).ConfigureAwait(false);
        if (!userptr)
        {
            throw ComplianceContext.NotSupported("no SHARED_PAGES (USERPTR) buffers");
        }
        var (buffers, _) = await StreamingTests.AllocateAsync(context, session, V4L2_MEMORY_USERPTR, source).ConfigureAwait(false);
        var echoed = new v4l2_plane[buffers.PlaneCount];
        var queued = await StreamingTests.QueueAsync(context, session, buffers, 0, echoed).ConfigureAwait(false);
        context.Expect(queued.Status, 0, "VIDIOC_QBUF(USERPTR)", source);
        if (Probes.IsMultiPlanar(buffers.Type))
        {
            for (var p = 0; p < echoed.Length; p++)
            {
                context.Check(echoed[p].m.userptr == StreamingTests.UserPointer(0, p), $"plane {p}: m.userptr came back 0x{echoed[p].m.userptr:x}", source);
            }
        }
        else
        {
            context.Check(queued.Payload.m.userptr == StreamingTests.UserPointer(0, 0), $"m.userptr came back 0x{queued.Payload.m.userptr:x}", source);
        }
        await session.VIDIOC_STREAMOFF((int)buffers.Type, null, context.Token).ConfigureAwait(false);
        await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = buffers.Type, memory = V4L2_MEMORY_USERPTR, count = 0 }, null, context.Token).ConfigureAwait(false);
        foreach (var pages in buffers.Pages)
        {
            pages.Dispose();
        }
    }

    private static async Task VirtioObjectAsync(ComplianceContext context)
    {
        const string source = "spec: Virtio Object (the fd placeholder is left unchanged)";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var (mmap, _, dmabuf, _) = await Probes.MemoryTypesAsync(session, context.Node.BufferType, context.Token).ConfigureAwait(false);
        if (!dmabuf || !mmap)
        {
            throw ComplianceContext.NotSupported("no VIRTIO_OBJECT (DMABUF) import, or no MMAP buffers to export");
        }
        var (buffers, _) = await StreamingTests.AllocateAsync(context, session, V4L2_MEMORY_DMABUF, source).ConfigureAwait(false);
        var echoed = new v4l2_plane[buffers.PlaneCount];
        var queued = await StreamingTests.QueueAsync(context, session, buffers, 0, echoed).ConfigureAwait(false);
        context.Expect(queued.Status, 0, "VIDIOC_QBUF(DMABUF)", source);
        if (Probes.IsMultiPlanar(buffers.Type))
        {
            for (var p = 0; p < echoed.Length; p++)
            {
                context.Check(echoed[p].m.fd == 40 + p, $"plane {p}: the fd placeholder came back {echoed[p].m.fd}", source);
            }
        }
        else
        {
            context.Check(queued.Payload.m.fd == 40, $"the fd placeholder came back {queued.Payload.m.fd}", source);
        }
        await session.VIDIOC_STREAMOFF((int)buffers.Type, null, context.Token).ConfigureAwait(false);
        await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = buffers.Type, memory = V4L2_MEMORY_DMABUF, count = 0 }, null, context.Token).ConfigureAwait(false);
    }

    // A driver cannot make a correct device fail a session, so the statement (no recycled id after an ERROR until the
    // driver closes it) is checked only when the device sent an ERROR during the run: the driver endpoint then refuses
    // an OPEN answering the errored id (DeviceProtocolException), which fails the test that saw it.
    private static Task DeviceErrorAsync(ComplianceContext context) =>
        throw ComplianceContext.NotSupported("a driver cannot provoke an ERROR event; a recycled id after one fails the test that sees it");
}
