using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Compliance.Running;
using static VirtioMedia.Abi.Constants;

namespace VirtioMedia.Compliance.Groups;

/// <summary>v4l2-compliance's "Buffer ioctls" (v4l2-test-buffers.cpp: testReqBufs, testExpBuf, testRequests).</summary>
internal static class BufferTests
{
    private const string Group = "Buffer ioctls";
    private const string Source = "v4l2-test-buffers.cpp";
    private const uint TimestampFlags = V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | V4L2_BUF_FLAG_TIMESTAMP_COPY;

    public static readonly ComplianceTest[] All =
    [
        new(Group, "test VIDIOC_REQBUFS/CREATE_BUFS/QUERYBUF", false, ReqBufsAsync),
        new(Group, "test VIDIOC_EXPBUF", false, ExpBufAsync),
        new(Group, "test Requests", false, RequestsAsync),
    ];

    private static async Task ReqBufsAsync(ComplianceContext context)
    {
        const string source = Source + ", testReqBufs";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var type = context.Node.BufferType;
        var (mmap, userptr, dmabuf, caps) = await Probes.MemoryTypesAsync(session, type, context.Token).ConfigureAwait(false);
        var any = mmap || userptr || dmabuf;
        context.Check(any == context.Node.HasStreaming, any ? "REQBUFS accepts a memory type but device_caps lacks V4L2_CAP_STREAMING" : "device_caps has V4L2_CAP_STREAMING but REQBUFS accepts no memory type", source);
        if (!any)
        {
            throw ComplianceContext.NotSupported("no streaming I/O");
        }
        context.Check(mmap == ((caps & V4L2_BUF_CAP_SUPPORTS_MMAP) != 0), "V4L2_BUF_CAP_SUPPORTS_MMAP does not match whether REQBUFS accepts MMAP", source);
        context.Check(userptr == ((caps & V4L2_BUF_CAP_SUPPORTS_USERPTR) != 0), "V4L2_BUF_CAP_SUPPORTS_USERPTR does not match whether REQBUFS accepts USERPTR", source);
        context.Check(dmabuf == ((caps & V4L2_BUF_CAP_SUPPORTS_DMABUF) != 0), "V4L2_BUF_CAP_SUPPORTS_DMABUF does not match whether REQBUFS accepts DMABUF", source);
        context.Check(mmap, "a streaming node must support MMAP buffers", source + " (node->valid_memorytype & (1 << V4L2_MEMORY_MMAP))");
        context.Expect((await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = 0 }, null, context.Token).ConfigureAwait(false)).Status, EINVAL, "VIDIOC_REQBUFS of memory type 0", source);
        foreach (var other in ComplianceNode.VideoBufferTypes)
        {
            if (!context.Node.Offers(other))
            {
                var wrong = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = other, memory = V4L2_MEMORY_MMAP }, null, context.Token).ConfigureAwait(false);
                context.Check(wrong.Status is EINVAL or ENOTTY, $"VIDIOC_REQBUFS of buffer type {other}, which the node lacks, answered {ErrnoNames.Of(wrong.Status)}", source);
            }
        }
        var memory = V4L2_MEMORY_MMAP;
        var granted = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = memory, count = 1 }, null, context.Token).ConfigureAwait(false);
        context.Expect(granted.Status, 0, "VIDIOC_REQBUFS(1)", source);
        context.Check(granted.Payload.count >= 1, "VIDIOC_REQBUFS(1) granted no buffer", source);
        context.Check(granted.Payload.capabilities == caps, "VIDIOC_REQBUFS answers other capabilities with buffers than without", source);
        var count = granted.Payload.count;
        for (uint index = 0; index < count; index++)
        {
            var (status, buffer, planes) = await Probes.QueryBufferAsync(session, type, memory, index, context.Token).ConfigureAwait(false);
            context.Expect(status, 0, $"VIDIOC_QUERYBUF({index})", source);
            CheckDequeuedState(context, buffer, planes, index, type, memory, "after REQBUFS", Source + ", buffer::check");
        }
        context.Expect((await Probes.QueryBufferAsync(session, type, memory, count, context.Token).ConfigureAwait(false)).Status, EINVAL, "VIDIOC_QUERYBUF past the last buffer", source);

        // A second open may not allocate while this one owns the queue (videobuf2's queue owner rule).
        var other2 = await context.OpenAsync().ConfigureAwait(false);
        context.Expect((await other2.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = memory, count = 1 }, null, context.Token).ConfigureAwait(false)).Status, EBUSY,
            "VIDIOC_REQBUFS of a second open while the first owns the buffers", source);
        context.Expect((await other2.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = memory, count = 0 }, null, context.Token).ConfigureAwait(false)).Status, EBUSY,
            "VIDIOC_REQBUFS(0) of a second open while the first owns the buffers", source);

        // CREATE_BUFS: count 0 reports the capabilities; with the current format it appends after the last buffer; a
        // sizeimage below the format's is refused.
        var format = await Probes.CurrentFormatAsync(context, session).ConfigureAwait(false);
        var probe = await session.VIDIOC_CREATE_BUFS(new v4l2_create_buffers { memory = memory, count = 0, format = format }, null, context.Token).ConfigureAwait(false);
        if (probe.Status != ENOTTY)
        {
            context.Expect(probe.Status, 0, "VIDIOC_CREATE_BUFS(count 0)", source);
            context.Check(probe.Payload.capabilities == caps, "VIDIOC_CREATE_BUFS answers other capabilities than VIDIOC_REQBUFS", source);
            var created = await session.VIDIOC_CREATE_BUFS(new v4l2_create_buffers { memory = memory, count = 1, format = format }, null, context.Token).ConfigureAwait(false);
            context.Expect(created.Status, 0, "VIDIOC_CREATE_BUFS(1) with the current format", source);
            context.Check(created.Payload.index == count, $"VIDIOC_CREATE_BUFS put the new buffer at index {created.Payload.index}, not after the {count} buffers", source);
            var small = format;
            if (Probes.IsMultiPlanar(type))
            {
                small.fmt.pix_mp.plane_fmt[0].sizeimage /= 2;
            }
            else
            {
                small.fmt.pix.sizeimage /= 2;
            }
            var refused = await session.VIDIOC_CREATE_BUFS(new v4l2_create_buffers { memory = memory, count = 1, format = small }, null, context.Token).ConfigureAwait(false);
            context.Expect(refused.Status, EINVAL, "VIDIOC_CREATE_BUFS with a sizeimage below the format's", source);
        }
        else
        {
            context.Note("VIDIOC_CREATE_BUFS answers ENOTTY");
        }
        context.Expect((await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = memory, count = 0 }, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_REQBUFS(0)", source);
        context.Expect((await other2.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = memory, count = 1 }, null, context.Token).ConfigureAwait(false)).Status, 0,
            "VIDIOC_REQBUFS of the second open once the first freed its buffers", source);
        await other2.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = memory, count = 0 }, null, context.Token).ConfigureAwait(false);
    }

    /// <summary>buffer::check for a buffer the driver owns: no state flag, a timestamp kind, sequence 0, fields echoed.</summary>
    internal static void CheckDequeuedState(ComplianceContext context, in v4l2_buffer buffer, v4l2_plane[] planes, uint index, uint type, uint memory, string when, string source)
    {
        context.Check(buffer.index == index && buffer.type == type && buffer.memory == memory, $"QUERYBUF {when} changed index, type or memory", source);
        context.Check((buffer.flags & (V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE)) == 0, $"buffer {index} {when} has QUEUED or DONE set (flags 0x{buffer.flags:x})", source);
        var timestamp = buffer.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK;
        context.Check(timestamp is V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC or V4L2_BUF_FLAG_TIMESTAMP_COPY, $"buffer {index} {when} has timestamp type 0x{timestamp:x}, neither MONOTONIC nor COPY", source);
        context.Check(planes.Length > 0, $"buffer {index} {when} has no plane", source);
        foreach (var plane in planes)
        {
            context.Check(plane.length > 0, $"buffer {index} {when} has a plane of length 0", source);
        }
        if (Probes.IsMultiPlanar(type))
        {
            context.Check(buffer.length is >= 1 and <= VIDEO_MAX_PLANES, $"buffer {index} {when} claims {buffer.length} planes", source);
        }
        context.Check((buffer.flags & ~(V4L2_BUF_FLAG_MAPPED | TimestampFlags | V4L2_BUF_FLAG_TSTAMP_SRC_MASK | V4L2_BUF_FLAG_KEYFRAME | V4L2_BUF_FLAG_PFRAME | V4L2_BUF_FLAG_BFRAME | V4L2_BUF_FLAG_ERROR | V4L2_BUF_FLAG_LAST | V4L2_BUF_FLAG_TIMECODE)) == 0,
            $"buffer {index} {when} has unknown flags 0x{buffer.flags:x}", source);
    }

    private static async Task ExpBufAsync(ComplianceContext context)
    {
        const string source = Source + ", testExpBuf";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var type = context.Node.BufferType;
        var (mmap, _, _, _) = await Probes.MemoryTypesAsync(session, type, context.Token).ConfigureAwait(false);
        if (!mmap)
        {
            throw ComplianceContext.NotSupported("no MMAP buffers to export");
        }
        var granted = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = V4L2_MEMORY_MMAP, count = 1 }, null, context.Token).ConfigureAwait(false);
        context.Expect(granted.Status, 0, "VIDIOC_REQBUFS(1)", source);
        var uuid = new byte[16];
        var exported = await session.VIDIOC_EXPBUF(new v4l2_exportbuffer { type = type, index = 0, plane = 0 }, new IoctlExtras { Uuids = uuid }, context.Token).ConfigureAwait(false);
        if (exported.Status == ENOTTY)
        {
            throw ComplianceContext.NotSupported("VIDIOC_EXPBUF answers ENOTTY");
        }
        context.Expect(exported.Status, 0, "VIDIOC_EXPBUF of buffer 0", source);
        context.Check(System.Array.Exists(uuid, b => b != 0), "VIDIOC_EXPBUF answered no object UUID", "spec: Virtio Object (EXPBUF returns the buffer's UUID)");
        context.Expect((await session.VIDIOC_EXPBUF(new v4l2_exportbuffer { type = type, index = granted.Payload.count, plane = 0 }, new IoctlExtras { Uuids = new byte[16] }, context.Token).ConfigureAwait(false)).Status, EINVAL,
            "VIDIOC_EXPBUF past the last buffer", source);
        context.Expect((await session.VIDIOC_EXPBUF(new v4l2_exportbuffer { type = type, index = 0, plane = VIDEO_MAX_PLANES }, new IoctlExtras { Uuids = new byte[16] }, context.Token).ConfigureAwait(false)).Status, EINVAL,
            "VIDIOC_EXPBUF of a plane past the last", source);
        await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = V4L2_MEMORY_MMAP, count = 0 }, null, context.Token).ConfigureAwait(false);
    }

    private static async Task RequestsAsync(ComplianceContext context)
    {
        var session = await context.OpenAsync().ConfigureAwait(false);
        var (_, _, _, caps) = await Probes.MemoryTypesAsync(session, context.Node.BufferType, context.Token).ConfigureAwait(false);
        context.Check((caps & V4L2_BUF_CAP_SUPPORTS_REQUESTS) == 0, "V4L2_BUF_CAP_SUPPORTS_REQUESTS is set, but virtio-media carries no media request API", "v4l2-test-buffers.cpp, testRequests (needs a media device)");
        throw ComplianceContext.NotSupported("no media requests");
    }
}
