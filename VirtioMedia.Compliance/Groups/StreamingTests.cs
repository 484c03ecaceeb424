using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Compliance.Running;
using VirtioMedia.Runtime.Driver;
using static VirtioMedia.Abi.Constants;

namespace VirtioMedia.Compliance.Groups;

/// <summary>
/// v4l2-compliance's "Streaming ioctls" for each memory type (v4l2-test-buffers.cpp: testMmap, testUserPtr, testDmaBuf),
/// mapped onto virtio-media's: MMAP buffers through shared memory region 0, USERPTR as SHARED_PAGES, DMABUF as
/// VIRTIO_OBJECT (buffers another session of the same device exported). Only "(no poll)": the event queue replaces poll.
/// </summary>
internal static class StreamingTests
{
    private const string Group = "Streaming ioctls";
    private const string Source = "v4l2-test-buffers.cpp";
    private const uint Buffers = 4;

    public static readonly ComplianceTest[] All =
    [
        new(Group, "test read/write", false, ReadWriteAsync),
        new(Group, "test MMAP (no poll)", true, c => StreamAsync(c, V4L2_MEMORY_MMAP)),
        new(Group, "test USERPTR (no poll)", true, c => StreamAsync(c, V4L2_MEMORY_USERPTR)),
        new(Group, "test DMABUF (no poll)", true, c => StreamAsync(c, V4L2_MEMORY_DMABUF)),
    ];

    private static Task ReadWriteAsync(ComplianceContext context)
    {
        context.Check((context.Node.DeviceCaps & V4L2_CAP_READWRITE) == 0, "V4L2_CAP_READWRITE is set, but virtio-media has no read()/write()", Source + ", testReadWrite (the Linux driver's virtio_media_fops have no .read/.write)");
        throw ComplianceContext.NotSupported("no read()/write() I/O");
    }

    /// <summary>The buffers of one stream as the driver holds them.</summary>
    internal sealed class StreamBuffers
    {
        public required uint Type { get; init; }
        public required uint Memory { get; init; }
        public required uint[] PlaneSizes { get; init; }
        public List<MappedBuffer> Maps { get; } = new();
        public List<SharedPagesBuffer> Pages { get; } = new();
        public Dictionary<uint, byte[][]> Uuids { get; } = new();
        public int PlaneCount => PlaneSizes.Length;
    }

    /// <summary>The memory plane sizes of the current format.</summary>
    internal static uint[] PlaneSizes(v4l2_format format) => Probes.IsMultiPlanar(format.type)
        ? Enumerable.Range(0, Math.Clamp(format.fmt.pix_mp.num_planes, (byte)1, (byte)VIDEO_MAX_PLANES)).Select(p => format.fmt.pix_mp.plane_fmt[p].sizeimage).ToArray()
        : [format.fmt.pix.sizeimage];

    /// <summary>QBUF of buffer <paramref name="index"/> with the memory of <paramref name="buffers"/>.</summary>
    internal static async Task<IoctlResult<v4l2_buffer>> QueueAsync(ComplianceContext context, DriverSession session, StreamBuffers buffers, uint index, v4l2_plane[]? echoedPlanes = null)
    {
        var mplane = Probes.IsMultiPlanar(buffers.Type);
        var buffer = new v4l2_buffer { index = index, type = buffers.Type, memory = buffers.Memory, field = V4L2_FIELD_NONE, length = mplane ? (uint)buffers.PlaneCount : buffers.PlaneSizes[0] };
        var planes = new v4l2_plane[buffers.PlaneCount];
        var extras = new IoctlExtras();
        for (var p = 0; p < planes.Length; p++)
        {
            planes[p].length = buffers.PlaneSizes[p];
            if (context.Node.IsOutputType)
            {
                planes[p].bytesused = buffers.PlaneSizes[p];
            }
        }
        if (context.Node.IsOutputType)
        {
            buffer.bytesused = buffers.PlaneSizes[0];
            buffer.timestamp.tv_sec = 1000 + index;
            buffer.timestamp.tv_usec = 17;
        }
        switch (buffers.Memory)
        {
            case V4L2_MEMORY_USERPTR:
                var entries = new List<virtio_media_sg_entry>();
                for (var p = 0; p < planes.Length; p++)
                {
                    entries.AddRange(buffers.Pages[(int)index * planes.Length + p].SgEntries.ToArray());
                    planes[p].m.userptr = UserPointer(index, p);
                }
                buffer.m.userptr = UserPointer(index, 0);
                extras.SgEntries = entries.ToArray();
                break;
            case V4L2_MEMORY_DMABUF:
                var uuids = new byte[planes.Length * 16];
                for (var p = 0; p < planes.Length; p++)
                {
                    buffers.Uuids[index][p].CopyTo(uuids, p * 16);
                    planes[p].m.fd = 40 + p;
                }
                buffer.m.fd = 40;
                extras.Uuids = uuids;
                break;
        }
        if (mplane)
        {
            extras.Elements = MemoryMarshal.AsBytes(planes.AsSpan()).ToArray();
        }
        var answer = await session.VIDIOC_QBUF(buffer, extras, context.Token).ConfigureAwait(false);
        if (mplane && echoedPlanes is not null)
        {
            MemoryMarshal.Cast<byte, v4l2_plane>(extras.Elements.Span).CopyTo(echoedPlanes);
        }
        return answer;
    }

    /// <summary>The (page-aligned, made-up) user address the driver gives plane <paramref name="plane"/> of buffer <paramref name="index"/>.</summary>
    internal static ulong UserPointer(uint index, int plane) => 0x7F00_0000_0000UL + index * 0x100_0000UL + (ulong)plane * 0x80_0000UL;

    /// <summary>Allocates <see cref="Buffers"/> buffers of <paramref name="memory"/> and gives them memory (maps, pages or imported objects).</summary>
    internal static async Task<(StreamBuffers Buffers, uint Count)> AllocateAsync(ComplianceContext context, DriverSession session, uint memory, string source)
    {
        var type = context.Node.BufferType;
        var format = await Probes.CurrentFormatAsync(context, session).ConfigureAwait(false);
        var buffers = new StreamBuffers { Type = type, Memory = memory, PlaneSizes = PlaneSizes(format) };
        if (memory == V4L2_MEMORY_DMABUF)
        {
            // The objects: MMAP buffers another session of the device exports, then frees (an export outlives REQBUFS(0)).
            var exporter = await context.OpenAsync().ConfigureAwait(false);
            var exported = await exporter.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = V4L2_MEMORY_MMAP, count = Buffers }, null, context.Token).ConfigureAwait(false);
            context.Expect(exported.Status, 0, "VIDIOC_REQBUFS of the exporting session", source);
            for (uint i = 0; i < exported.Payload.count; i++)
            {
                buffers.Uuids[i] = new byte[buffers.PlaneCount][];
                for (var p = 0; p < buffers.PlaneCount; p++)
                {
                    buffers.Uuids[i][p] = new byte[16];
                    var answer = await exporter.VIDIOC_EXPBUF(new v4l2_exportbuffer { type = type, index = i, plane = (uint)p }, new IoctlExtras { Uuids = buffers.Uuids[i][p] }, context.Token).ConfigureAwait(false);
                    context.Expect(answer.Status, 0, $"VIDIOC_EXPBUF of buffer {i} plane {p} (the VIRTIO_OBJECT to import)", source);
                }
            }
            context.Expect((await exporter.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = V4L2_MEMORY_MMAP, count = 0 }, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_REQBUFS(0) of the exporting session", source);
        }
        var granted = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = memory, count = Buffers }, null, context.Token).ConfigureAwait(false);
        context.Expect(granted.Status, 0, $"VIDIOC_REQBUFS({Buffers})", source);
        var count = Math.Min(granted.Payload.count, memory == V4L2_MEMORY_DMABUF ? (uint)buffers.Uuids.Count : granted.Payload.count);
        context.Check(count >= 1, "VIDIOC_REQBUFS granted no buffer", source);
        for (uint index = 0; index < count; index++)
        {
            var (status, buffer, planes) = await Probes.QueryBufferAsync(session, type, memory, index, context.Token).ConfigureAwait(false);
            context.Expect(status, 0, $"VIDIOC_QUERYBUF({index})", source);
            BufferTests.CheckDequeuedState(context, buffer, planes, index, type, memory, "after REQBUFS", Source + ", buffer::check");
            for (var p = 0; p < buffers.PlaneCount; p++)
            {
                if (memory == V4L2_MEMORY_MMAP)
                {
                    var map = await session.MapAsync(planes[p].m.mem_offset, writable: true, context.Token).ConfigureAwait(false);
                    buffers.Maps.Add(map);
                    context.Check(map.Length == planes[p].length, $"MMAP of buffer {index} plane {p} answered len {map.Length}, the buffer's length is {planes[p].length}", "spec: Mapping a MMAP buffer (len equals the buffer length)");
                }
                else if (memory == V4L2_MEMORY_USERPTR)
                {
                    buffers.Pages.Add(context.Driver.AllocateSharedPages(Math.Max(planes[p].length, buffers.PlaneSizes[p])));
                }
            }
        }
        return (buffers, count);
    }

    private static async Task StreamAsync(ComplianceContext context, uint memory)
    {
        var function = memory switch { V4L2_MEMORY_MMAP => "testMmap", V4L2_MEMORY_USERPTR => "testUserPtr", _ => "testDmaBuf" };
        var source = $"{Source}, {function}";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var type = context.Node.BufferType;
        var (mmap, userptr, dmabuf, _) = await Probes.MemoryTypesAsync(session, type, context.Token).ConfigureAwait(false);
        if (!context.Node.HasStreaming)
        {
            // Without V4L2_CAP_STREAMING no memory type may be requested: MMAP must fail, and USERPTR and DMABUF
            // must answer ENOTTY (testMmap: fail_on_test(!can_stream) once reqbufs succeeds; testUserPtr and
            // testDmaBuf: !can_stream && ret != ENOTTY).
            var memoryName = memory switch { V4L2_MEMORY_MMAP => "MMAP", V4L2_MEMORY_USERPTR => "USERPTR", _ => "DMABUF" };
            var refused = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = memory, count = 0 }, null, context.Token).ConfigureAwait(false);
            context.Check(refused.Status != 0, $"VIDIOC_REQBUFS(0) of {memoryName} succeeds, but device_caps lack V4L2_CAP_STREAMING", source + " (!can_stream)");
            context.Check(memory == V4L2_MEMORY_MMAP || refused.Status == ENOTTY,
                $"VIDIOC_REQBUFS(0) of {memoryName} answered {ErrnoNames.Of(refused.Status)}; without V4L2_CAP_STREAMING it must be ENOTTY", source + " (!can_stream && ret != ENOTTY)");
            throw ComplianceContext.NotSupported("no streaming I/O");
        }
        var offered = memory switch { V4L2_MEMORY_MMAP => mmap, V4L2_MEMORY_USERPTR => userptr, _ => dmabuf && mmap };
        if (!offered)
        {
            context.Check(memory != V4L2_MEMORY_MMAP, "a streaming node must stream MMAP buffers", Source + ", testReqBufs / testMmap");
            throw ComplianceContext.NotSupported(memory == V4L2_MEMORY_DMABUF ? "no VIRTIO_OBJECT import, or no MMAP buffers to export" : "the node does not accept SHARED_PAGES (USERPTR) buffers");
        }
        context.Expect((await session.VIDIOC_STREAMON((int)type, null, context.Token).ConfigureAwait(false)).Status, EINVAL, "VIDIOC_STREAMON without buffers", source);
        var (buffers, count) = await AllocateAsync(context, session, memory, source).ConfigureAwait(false);
        var current = await Probes.CurrentFormatAsync(context, session).ConfigureAwait(false);
        var formatField = Probes.IsMultiPlanar(type) ? current.fmt.pix_mp.field : current.fmt.pix.field;
        var given = new Dictionary<uint, (long Sec, long Usec)>();
        for (uint index = 0; index < count; index++)
        {
            var echoed = new v4l2_plane[buffers.PlaneCount];
            var queued = await QueueAsync(context, session, buffers, index, echoed).ConfigureAwait(false);
            context.Expect(queued.Status, 0, $"VIDIOC_QBUF({index})", source);
            var flags = queued.Payload.flags;
            context.Check((flags & V4L2_BUF_FLAG_QUEUED) != 0 && (flags & V4L2_BUF_FLAG_DONE) == 0, $"VIDIOC_QBUF({index}) answered flags 0x{flags:x}: a queued buffer has QUEUED and not DONE", Source + ", buffer::check");
            if (memory == V4L2_MEMORY_USERPTR && !Probes.IsMultiPlanar(type))
            {
                context.Check(queued.Payload.m.userptr == UserPointer(index, 0), "VIDIOC_QBUF changed m.userptr", "spec: Shared Pages (m.userptr returned unchanged)");
            }
            if (memory == V4L2_MEMORY_DMABUF && !Probes.IsMultiPlanar(type))
            {
                context.Check(queued.Payload.m.fd == 40, "VIDIOC_QBUF changed the m.fd placeholder", "spec: Virtio Object (the fd placeholder is left unchanged)");
            }
            given[index] = (queued.Payload.timestamp.tv_sec, queued.Payload.timestamp.tv_usec);
            if (index == 0)
            {
                var again = await QueueAsync(context, session, buffers, index).ConfigureAwait(false);
                context.Expect(again.Status, EINVAL, "VIDIOC_QBUF of a buffer already queued", source);
            }
        }
        context.Expect((await session.VIDIOC_STREAMON((int)type, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_STREAMON", source);
        context.Expect((await session.VIDIOC_STREAMON((int)type, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_STREAMON twice", source);
        uint? lastSequence = null;
        long lastStamp = long.MinValue;
        for (var n = 0; n < context.Options.StreamFrames; n++)
        {
            DequeuedBuffer done;
            try
            {
                done = await session.DequeuedBuffers.ReadAsync(context.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(3), context.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new ComplianceFailure($"no DQBUF event for frame {n} within 3 s of streaming with {count} buffers queued [{source} (VIDIOC_DQBUF)]");
            }
            var buffer = done.Buffer;
            var name = $"dequeued buffer {buffer.index} (frame {n})";
            context.Check(buffer.index < count && buffer.type == type && buffer.memory == memory, $"{name}: index, type or memory do not match a queued buffer", Source + ", buffer::check");
            context.Check((buffer.flags & V4L2_BUF_FLAG_QUEUED) == 0, $"{name} still has QUEUED", Source + ", buffer::check");
            var stampKind = buffer.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK;
            context.Check(stampKind is V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC or V4L2_BUF_FLAG_TIMESTAMP_COPY, $"{name} has timestamp type 0x{stampKind:x}", Source + ", buffer::check");
            context.Check(buffer.field is not V4L2_FIELD_ANY && buffer.field <= V4L2_FIELD_INTERLACED_BT, $"{name} has field {buffer.field}", Source + ", buffer::check");
            // A progressive format's frames carry the format's own field (an alternating one's, TOP or BOTTOM).
            context.Check(formatField == V4L2_FIELD_ALTERNATE || buffer.field == formatField, $"{name} has field {buffer.field}, but G_FMT answers field {formatField}", Source + ", buffer::check (g_field() != fmt.g_field())");
            var stamp = buffer.timestamp.tv_sec * 1_000_000 + buffer.timestamp.tv_usec;
            if (!context.Node.IsOutputType)
            {
                context.Check(stamp != 0 || stampKind == V4L2_BUF_FLAG_TIMESTAMP_COPY, $"{name} has no timestamp", Source + ", buffer::check");
                if (stampKind == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC)
                {
                    context.Check(stamp >= lastStamp, $"{name}: the monotonic timestamp went backwards", Source + ", buffer::check");
                }
                var sizes = Probes.IsMultiPlanar(type) ? Enumerable.Range(0, buffers.PlaneCount).Select(p => (done.Planes[p].bytesused, done.Planes[p].length)).ToArray() : [(buffer.bytesused, buffer.length)];
                foreach (var (used, length) in sizes)
                {
                    context.Check(used > 0 && used <= length, $"{name}: bytesused {used} is 0 or above the length {length}", Source + ", buffer::check");
                }
            }
            else if (stampKind == V4L2_BUF_FLAG_TIMESTAMP_COPY)
            {
                context.Check((buffer.timestamp.tv_sec, buffer.timestamp.tv_usec) == given[buffer.index], $"{name}: TIMESTAMP_COPY but the timestamp is not the one queued", Source + ", buffer::check");
            }
            lastStamp = stamp;
            if (lastSequence is { } previous)
            {
                context.Check(buffer.sequence > previous, $"{name}: sequence {buffer.sequence} does not follow {previous}", Source + ", captureBufs (sequence)");
                if (buffer.sequence != previous + 1)
                {
                    context.Warn($"{name}: sequence jumped from {previous} to {buffer.sequence} (dropped frames)");
                }
            }
            lastSequence = buffer.sequence;
            var requeued = await QueueAsync(context, session, buffers, buffer.index).ConfigureAwait(false);
            context.Expect(requeued.Status, 0, $"VIDIOC_QBUF of {name}", source);
        }
        context.Expect((await session.VIDIOC_STREAMOFF((int)type, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_STREAMOFF", source);
        context.Expect((await session.VIDIOC_STREAMOFF((int)type, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_STREAMOFF twice", source);
        for (uint index = 0; index < count; index++)
        {
            var (status, buffer, planes) = await Probes.QueryBufferAsync(session, type, memory, index, context.Token).ConfigureAwait(false);
            context.Expect(status, 0, $"VIDIOC_QUERYBUF({index}) after STREAMOFF", source);
            context.Check((buffer.flags & (V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE)) == 0, $"buffer {index} is still QUEUED or DONE after STREAMOFF", Source + ", buffer::check");
        }
        var freed = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = memory, count = 0 }, null, context.Token).ConfigureAwait(false);
        if (buffers.Maps.Count > 0 && (freed.Payload.capabilities & V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS) == 0 && freed.Status == 0)
        {
            context.Warn("Can free buffers even if still mmap()ed (set V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS)");
        }
        context.Check(freed.Status == 0 || (freed.Status == EBUSY && (freed.Payload.capabilities & V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS) == 0),
            $"VIDIOC_REQBUFS(0) with the buffers still mapped answered {ErrnoNames.Of(freed.Status)}", Source + ", testMmap (supports_orphaned_bufs)");
        foreach (var map in buffers.Maps)
        {
            await context.Driver.UnmapAsync(map, context.Token).ConfigureAwait(false);
        }
        foreach (var pages in buffers.Pages)
        {
            pages.Dispose();
        }
        context.Note($"{context.Options.StreamFrames} frames with {count} {function[4..]} buffers");
    }
}
