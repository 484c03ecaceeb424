using System;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Samples.Camera;
using VirtioMedia.Tests.Runtime;
using Rig = VirtioMedia.Tests.Samples.CameraTests.Rig;

namespace VirtioMedia.Tests.Samples;

/// <summary>
/// The V4L2 rules the Linux virtio-media driver leaves to the device, as v4l2-compliance 1.22.1 checks them
/// (utils/v4l2-compliance/ of v4l-utils), asserted on the sample camera through both real endpoints. The rules
/// live in the runtime's <see cref="BufferQueue"/> and <see cref="ControlSet"/>, so every device built on them keeps them.
/// </summary>
[TestClass]
public sealed class CameraComplianceTests
{
    private const uint Capture = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE;
    private const uint CaptureMplane = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
    private const uint Mmap = Constants.V4L2_MEMORY_MMAP;
    private const uint UserPtr = Constants.V4L2_MEMORY_USERPTR;
    private const uint DmaBuf = Constants.V4L2_MEMORY_DMABUF;
    private const uint TimestampMask = Constants.V4L2_BUF_FLAG_TIMESTAMP_MASK;
    private const uint Monotonic = Constants.V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
    private const uint Queued = Constants.V4L2_BUF_FLAG_QUEUED;

    // v4l2-test-buffers.cpp, buffer::check: every buffer in every state has TIMESTAMP_MONOTONIC (or COPY); an
    // unqueued one has no state flag, no timestamp and sequence 0; a queued one has QUEUED; testMmap: QBUF of a
    // queued buffer and of an index past the end fail, STREAMOFF returns queued buffers so they can be queued again.
    [TestMethod]
    public Task Every_buffer_in_every_state_carries_the_monotonic_timestamp_flag() => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_STREAMON((int)Capture)).Status, "STREAMON without buffers");
        Assert.AreEqual(0, (await session.VIDIOC_STREAMOFF((int)Capture)).Status, "STREAMOFF without buffers");
        var granted = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Mmap, count = 2 });
        Assert.AreEqual((0, 2u), (granted.Status, granted.Payload.count));
        for (uint i = 0; i < 2; i++)
        {
            var fresh = await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = Capture, index = i, memory = Mmap });
            Assert.AreEqual(0, fresh.Status);
            Assert.AreEqual(Monotonic, fresh.Payload.flags & TimestampMask, "QUERYBUF right after REQBUFS");
            Assert.AreEqual(0u, fresh.Payload.flags & (Queued | Constants.V4L2_BUF_FLAG_DONE));
            Assert.AreEqual((0L, 0L, 0u), (fresh.Payload.timestamp.tv_sec, fresh.Payload.timestamp.tv_usec, fresh.Payload.sequence));
            Assert.AreNotEqual(0u, fresh.Payload.length);
            Assert.AreEqual(Mmap, fresh.Payload.memory);
        }
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = Capture, index = 2, memory = Mmap })).Status);

        for (var round = 0; round < 2; round++)
        {
            for (uint i = 0; i < 2; i++)
            {
                var queued = await session.VIDIOC_QBUF(new v4l2_buffer { type = Capture, index = i, memory = Mmap });
                Assert.AreEqual(0, queued.Status, $"round {round}: QBUF {i}");
                Assert.AreEqual(Monotonic | Queued, queued.Payload.flags & (TimestampMask | Queued | Constants.V4L2_BUF_FLAG_DONE));
                var query = await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = Capture, index = i, memory = Mmap });
                Assert.AreEqual(Monotonic | Queued, query.Payload.flags & (TimestampMask | Queued));
                Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_QBUF(new v4l2_buffer { type = Capture, index = i, memory = Mmap })).Status, "QBUF of a queued buffer");
                Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_QBUF(new v4l2_buffer { type = Capture, index = i + Constants.VIDEO_MAX_FRAME, memory = Mmap })).Status);
            }
            Assert.AreEqual(0, (await session.VIDIOC_STREAMOFF((int)Capture)).Status);
            var returned = await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = Capture, index = 0, memory = Mmap });
            Assert.AreEqual(Monotonic, returned.Payload.flags & (TimestampMask | Queued), "STREAMOFF returned the buffer");
        }

        // Streaming: each DQBUF event is a done buffer with the flag, a timestamp, bytesused and a rising sequence.
        for (uint i = 0; i < 2; i++)
        {
            Assert.AreEqual(0, (await session.VIDIOC_QBUF(new v4l2_buffer { type = Capture, index = i, memory = Mmap })).Status);
        }
        Assert.AreEqual(0, (await session.VIDIOC_STREAMON((int)Capture)).Status);
        Assert.AreEqual(0, (await session.VIDIOC_STREAMON((int)Capture)).Status, "STREAMON twice");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        for (uint n = 0; n < 6; n++)
        {
            var done = (await session.DequeuedBuffers.ReadAsync(timeout.Token)).Buffer;
            Assert.AreEqual(n, done.sequence);
            Assert.AreEqual(Monotonic, done.flags & TimestampMask);
            Assert.AreEqual(0u, done.flags & Queued);
            Assert.IsTrue(done.timestamp.tv_sec != 0 || done.timestamp.tv_usec != 0);
            Assert.AreEqual((uint)Constants.V4L2_FIELD_NONE, done.field);
            Assert.IsTrue(done.bytesused > 0 && done.bytesused <= done.length);
            Assert.AreEqual(0, (await session.VIDIOC_QBUF(new v4l2_buffer { type = Capture, index = done.index, memory = Mmap })).Status);
        }
        Assert.AreEqual(0, (await session.VIDIOC_STREAMOFF((int)Capture)).Status);
        Assert.AreEqual(0, (await session.VIDIOC_STREAMOFF((int)Capture)).Status, "STREAMOFF twice");
        Assert.AreEqual(0, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Mmap })).Status);
    });

    // v4l2-test-buffers.cpp, setupUserPtr: QBUF of a USERPTR buffer answers the userptr and length it was given,
    // without the NO_CACHE_* flags the application set; a length below the buffer's size is refused.
    [TestMethod]
    public Task QBUF_of_guest_pages_echoes_the_pointer_and_length_and_drops_cache_hints() => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(0, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = UserPtr, count = 1 })).Status);
        var info = (await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = Capture, memory = UserPtr })).Payload;
        using var pages = rig.Driver.AllocateSharedPages(info.length);
        var extras = new IoctlExtras { SgEntries = pages.SgEntries.ToArray() };
        const uint hints = Constants.V4L2_BUF_FLAG_NO_CACHE_INVALIDATE | Constants.V4L2_BUF_FLAG_NO_CACHE_CLEAN;
        var tooShort = new v4l2_buffer { type = Capture, memory = UserPtr, length = info.length - 1, flags = hints };
        tooShort.m.userptr = 0x7F00_0000_0FF8;
        using var fewerPages = rig.Driver.AllocateSharedPages(info.length - 1);
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_QBUF(tooShort, new IoctlExtras { SgEntries = fewerPages.SgEntries.ToArray() })).Status);
        var request = tooShort;
        request.length = info.length;
        var queued = await session.VIDIOC_QBUF(request, extras);
        Assert.AreEqual(0, queued.Status);
        Assert.AreEqual((0x7F00_0000_0FF8UL, info.length), (queued.Payload.m.userptr, queued.Payload.length));
        Assert.AreEqual(Monotonic | Queued, queued.Payload.flags, "no cache hints, no DONE");
        Assert.AreEqual(0, (await session.VIDIOC_STREAMOFF((int)Capture)).Status);
        Assert.AreEqual(0, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = UserPtr })).Status);
    });

    // v4l2-test-buffers.cpp, testReqBufs: a memory type is valid exactly when its V4L2_BUF_CAP_SUPPORTS_* bit is set
    // ("dmabuf_valid ^ !!(caps & V4L2_BUF_CAP_SUPPORTS_DMABUF)"), and NON_COHERENT is cleared without cache hints.
    [TestMethod]
    public Task REQBUFS_and_CREATE_BUFS_accept_exactly_the_memory_types_the_capability_bits_name() => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start(new CameraOptions { Fast = true, Memory = MemoryTypes.Mmap | MemoryTypes.SharedPages });
        Assert.IsTrue(rig.Device.SharedMemoryAvailable);
        var session = await rig.Driver.OpenSessionAsync();
        const uint expected = Constants.V4L2_BUF_CAP_SUPPORTS_MMAP | Constants.V4L2_BUF_CAP_SUPPORTS_USERPTR | Constants.V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS;
        foreach (var memory in new[] { Mmap, UserPtr })
        {
            var answer = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = memory, flags = (byte)Constants.V4L2_MEMORY_FLAG_NON_COHERENT });
            Assert.AreEqual((0, expected, (byte)0), (answer.Status, answer.Payload.capabilities, answer.Payload.flags), $"memory {memory}");
        }
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = DmaBuf })).Status);
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = 0 })).Status);
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = CaptureMplane, memory = Mmap })).Status);
        var create = new v4l2_create_buffers { memory = DmaBuf, count = 1 };
        create.format = (await session.VIDIOC_G_FMT(new v4l2_format { type = Capture })).Payload;
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_CREATE_BUFS(create)).Status);
        create.memory = UserPtr;
        create.count = 0;
        var probe = await session.VIDIOC_CREATE_BUFS(create);
        Assert.AreEqual((0, expected, 0u), (probe.Status, probe.Payload.capabilities, probe.Payload.index));
    });

    // Without shared memory region 0 the driver cannot map MMAP buffers, so the camera does not accept MMAP.
    [TestMethod]
    public Task Without_shared_memory_region_0_MMAP_is_not_accepted() => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start(sharedMemorySize: 0);
        Assert.IsFalse(rig.Device.SharedMemoryAvailable);
        var session = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Mmap, count = 2 })).Status);
        var userptr = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = UserPtr, count = 2 });
        Assert.AreEqual((0, 2u), (userptr.Status, userptr.Payload.count));
        Assert.AreEqual((uint)(Constants.V4L2_BUF_CAP_SUPPORTS_USERPTR | Constants.V4L2_BUF_CAP_SUPPORTS_DMABUF), userptr.Payload.capabilities);
        Assert.IsNull(rig.Device.Mmap.Allocate(rig.Device.TryGetSession(1, out var device) ? device : throw new AssertFailedException("no session 1"), 4096),
            "the allocator over a zero-length region has nothing to give");
    });

    // A REQBUFS that gets no MMAP memory answers ENOMEM and leaves the queue free for any session.
    [TestMethod]
    public Task A_REQBUFS_that_finds_no_memory_leaves_the_queue_unowned() => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start(sharedMemorySize: 64 << 10);
        var first = await rig.Driver.OpenSessionAsync();
        var second = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(0, (await first.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = UserPtr, count = 1 })).Status);
        // 640x480 YUYV is 600 KiB a buffer: more than the 64 KiB region holds. The USERPTR buffer went first.
        Assert.AreEqual(Constants.ENOMEM, (await first.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Mmap, count = 2 })).Status);
        Assert.AreEqual(0, (await second.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = UserPtr, count = 2 })).Status, "not EBUSY");
        Assert.AreEqual(0, rig.Device.Mmap.LiveBuffers);
    });

    // videobuf2 (vb2_queue_is_busy) and v4l2-test-buffers.cpp, testReqBufs: the queue belongs to the file handle that
    // allocated it: another one gets EBUSY for REQBUFS (also count 0) and CREATE_BUFS, and may allocate once it is free.
    // v4l2-test-formats.cpp, testGlobalFormat: a format set through one file handle is the node's.
    [TestMethod]
    public Task The_queue_and_the_format_are_the_nodes_and_the_queue_belongs_to_the_session_that_allocated_it() => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start();
        var first = await rig.Driver.OpenSessionAsync();
        var second = await rig.Driver.OpenSessionAsync();
        var format = new v4l2_format { type = Capture };
        format.fmt.pix.pixelformat = Constants.V4L2_PIX_FMT_RGB24;
        format.fmt.pix.width = 320;
        format.fmt.pix.height = 240;
        Assert.AreEqual(0, (await first.VIDIOC_S_FMT(format)).Status);
        var seen = (await second.VIDIOC_G_FMT(new v4l2_format { type = Capture })).Payload.fmt.pix;
        Assert.AreEqual((Constants.V4L2_PIX_FMT_RGB24, 320u, 240u), (seen.pixelformat, seen.width, seen.height));

        Assert.AreEqual(0, (await first.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Mmap, count = 1 })).Status);
        Assert.AreEqual(Constants.EBUSY, (await second.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Mmap, count = 1 })).Status);
        Assert.AreEqual(Constants.EBUSY, (await second.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Mmap })).Status);
        var create = new v4l2_create_buffers { memory = Mmap, count = 1, format = (await second.VIDIOC_G_FMT(new v4l2_format { type = Capture })).Payload };
        Assert.AreEqual(Constants.EBUSY, (await second.VIDIOC_CREATE_BUFS(create)).Status);
        Assert.AreEqual(Constants.EBUSY, (await second.VIDIOC_QBUF(new v4l2_buffer { type = Capture, memory = Mmap })).Status);
        Assert.AreEqual(Constants.EBUSY, (await second.VIDIOC_STREAMON((int)Capture)).Status);
        Assert.AreEqual(0, (await second.VIDIOC_QUERYBUF(new v4l2_buffer { type = Capture, memory = Mmap })).Status, "anyone may query");
        Assert.AreEqual(Constants.EBUSY, (await first.VIDIOC_S_FMT(format)).Status, "no format change under allocated buffers");

        Assert.AreEqual(0, (await first.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Mmap })).Status);
        Assert.AreEqual(0, (await second.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Mmap, count = 1 })).Status);
        Assert.AreEqual(Constants.EBUSY, (await first.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Mmap, count = 1 })).Status);
        // Closing the owner frees the queue.
        await second.CloseAsync();
        Assert.AreEqual(0, (await first.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Mmap, count = 1 })).Status);
        Assert.AreEqual(0, (await first.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Capture, memory = Mmap })).Status);
    });

    // v4l2-test-buffers.cpp, testReqBufs and testMmap: CREATE_BUFS count 0 reports index and caps; a format with half
    // the sizeimage (or one plane too many) is EINVAL; twice the sizeimage gives buffers at least that long.
    [TestMethod]
    [DataRow(CameraApi.SinglePlanar)]
    [DataRow(CameraApi.MultiPlanar)]
    public Task CREATE_BUFS_adds_buffers_of_the_size_asked_for_and_refuses_too_small_ones(CameraApi api) => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start(new CameraOptions { Fast = true, Api = api });
        var session = await rig.Driver.OpenSessionAsync();
        var type = CameraFormats.BufferType(api);
        var current = (await session.VIDIOC_G_FMT(new v4l2_format { type = type })).Payload;
        var planes = type == CaptureMplane ? current.fmt.pix_mp.num_planes : 1;
        uint SizeImage(in v4l2_format f, int plane) => type == CaptureMplane ? f.fmt.pix_mp.plane_fmt[plane].sizeimage : f.fmt.pix.sizeimage;

        Assert.AreEqual(0, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = Mmap, count = 2 })).Status);
        var probe = await session.VIDIOC_CREATE_BUFS(new v4l2_create_buffers { memory = Mmap, format = current });
        Assert.AreEqual((0, 2u), (probe.Status, probe.Payload.index));

        var half = current;
        for (var plane = 0; plane < planes; plane++)
        {
            if (type == CaptureMplane)
            {
                half.fmt.pix_mp.plane_fmt[plane].sizeimage /= 2;
            }
            else
            {
                half.fmt.pix.sizeimage /= 2;
            }
        }
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_CREATE_BUFS(new v4l2_create_buffers { memory = Mmap, count = 1, format = half })).Status);
        if (type == CaptureMplane)
        {
            var extra = current;
            extra.fmt.pix_mp.num_planes++;
            Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_CREATE_BUFS(new v4l2_create_buffers { memory = Mmap, count = 1, format = extra })).Status);
        }
        var twice = current;
        for (var plane = 0; plane < planes; plane++)
        {
            if (type == CaptureMplane)
            {
                twice.fmt.pix_mp.plane_fmt[plane].sizeimage *= 2;
            }
            else
            {
                twice.fmt.pix.sizeimage *= 2;
            }
        }
        var created = await session.VIDIOC_CREATE_BUFS(new v4l2_create_buffers { memory = Mmap, count = 1, format = twice, flags = Constants.V4L2_MEMORY_FLAG_NON_COHERENT });
        Assert.AreEqual((0, 2u, 1u, 0u), (created.Status, created.Payload.index, created.Payload.count, created.Payload.flags));
        Assert.AreEqual((uint)(Constants.V4L2_BUF_CAP_SUPPORTS_DMABUF | Constants.V4L2_BUF_CAP_SUPPORTS_USERPTR | Constants.V4L2_BUF_CAP_SUPPORTS_MMAP | Constants.V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS), created.Payload.capabilities);

        var planeBytes = new byte[Constants.VIRTIO_MEDIA_MAX_PLANES * Marshal.SizeOf<v4l2_plane>()];
        var query = await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = type, index = 2, memory = Mmap, length = type == CaptureMplane ? (uint)planes : 0 },
            type == CaptureMplane ? new IoctlExtras { Elements = planeBytes.AsMemory(0, planes * Marshal.SizeOf<v4l2_plane>()) } : null);
        Assert.AreEqual(0, query.Status);
        for (var plane = 0; plane < planes; plane++)
        {
            var length = type == CaptureMplane ? MemoryMarshal.Cast<byte, v4l2_plane>(planeBytes)[plane].length : query.Payload.length;
            Assert.IsTrue(length >= SizeImage(in twice, plane), $"plane {plane}: {length} bytes for a sizeimage of {SizeImage(in twice, plane)}");
        }
        var beyond = await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = type, index = 3, memory = Mmap, length = type == CaptureMplane ? (uint)planes : 0 },
            type == CaptureMplane ? new IoctlExtras { Elements = planeBytes.AsMemory(0, planes * Marshal.SizeOf<v4l2_plane>()) } : null);
        Assert.AreEqual(Constants.EINVAL, beyond.Status);
        Assert.AreEqual(0, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = Mmap })).Status);
    });

    // v4l2-test-controls.cpp: checkQCtrl (a class control has type CTRL_CLASS, id low bits 1, flags READ_ONLY |
    // WRITE_ONLY, zero min/max/step/def), testQueryExtControls ("missing control class"), testSimpleControls (EACCES
    // or EINVAL for G/S_CTRL of a class control), testExtendedControls (error_idx: count for G and S, the index for
    // TRY; DEF_VAL may be read, not set or tried), testEvents (no initial event for a class control).
    [TestMethod]
    public Task Controls_have_their_class_control_and_keep_the_error_idx_rules() => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        var first = await session.VIDIOC_QUERY_EXT_CTRL(new v4l2_query_ext_ctrl { id = Constants.V4L2_CTRL_FLAG_NEXT_CTRL | Constants.V4L2_CTRL_FLAG_NEXT_COMPOUND });
        Assert.AreEqual(0, first.Status);
        var c = first.Payload;
        Assert.AreEqual(((uint)Constants.V4L2_CID_USER_CLASS, (uint)v4l2_ctrl_type.V4L2_CTRL_TYPE_CTRL_CLASS, (uint)(Constants.V4L2_CTRL_FLAG_READ_ONLY | Constants.V4L2_CTRL_FLAG_WRITE_ONLY)),
            (c.id, c.type, c.flags));
        Assert.AreEqual((0L, 0L, 0UL, 0L), (c.minimum, c.maximum, c.step, c.default_value));
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_QUERY_EXT_CTRL(new v4l2_query_ext_ctrl { id = Constants.V4L2_CTRL_FLAG_NEXT_COMPOUND })).Status, "no compound controls");
        Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_QUERYMENU(new v4l2_querymenu { id = Constants.V4L2_CID_BRIGHTNESS })).Status);
        Assert.AreEqual(Constants.EACCES, (await session.VIDIOC_G_CTRL(new v4l2_control { id = Constants.V4L2_CID_USER_CLASS })).Status);
        Assert.AreEqual(Constants.EACCES, (await session.VIDIOC_S_CTRL(new v4l2_control { id = Constants.V4L2_CID_USER_CLASS })).Status);

        async Task<(int Status, uint ErrorIdx)> Ext(Func<v4l2_ext_controls, IoctlExtras, Task<(int, uint)>> call, uint which, params uint[] ids)
        {
            var controls = new v4l2_ext_control[ids.Length];
            for (var i = 0; i < ids.Length; i++)
            {
                controls[i].id = ids[i];
            }
            return await call(new v4l2_ext_controls { which = which, count = (uint)ids.Length, error_idx = 77 }, new IoctlExtras { Elements = MemoryMarshal.AsBytes(controls.AsSpan()).ToArray() });
        }
        async Task<(int, uint)> Get(v4l2_ext_controls p, IoctlExtras e) { var r = await session.VIDIOC_G_EXT_CTRLS(p, e); return (r.Status, r.Payload.error_idx); }
        async Task<(int, uint)> Try(v4l2_ext_controls p, IoctlExtras e) { var r = await session.VIDIOC_TRY_EXT_CTRLS(p, e); return (r.Status, r.Payload.error_idx); }
        async Task<(int, uint)> Set(v4l2_ext_controls p, IoctlExtras e) { var r = await session.VIDIOC_S_EXT_CTRLS(p, e); return (r.Status, r.Payload.error_idx); }

        const uint user = Constants.V4L2_CTRL_CLASS_USER;
        Assert.AreEqual((Constants.EINVAL, 1u), await Ext(Get, 0, 0), "G_EXT_CTRLS of id 0: count");
        Assert.AreEqual((Constants.EINVAL, 0u), await Ext(Try, 0, 0), "TRY_EXT_CTRLS of id 0: the index");
        Assert.AreEqual((Constants.EINVAL, 1u), await Ext(Set, 0, 0), "S_EXT_CTRLS of id 0: count");
        Assert.AreEqual((Constants.EACCES, 1u), await Ext(Get, user, Constants.V4L2_CID_USER_CLASS), "the class control is write-only");
        Assert.AreEqual((Constants.EACCES, 0u), await Ext(Try, user, Constants.V4L2_CID_USER_CLASS), "and read-only: TRY names it");
        Assert.AreEqual((Constants.EACCES, 1u), await Ext(Set, user, Constants.V4L2_CID_USER_CLASS));
        Assert.AreEqual(0, (await Ext(Get, user, Constants.V4L2_CID_BRIGHTNESS, Constants.V4L2_CID_HFLIP)).Status, "a class as which");
        Assert.AreEqual((Constants.EINVAL, 2u), await Ext(Get, Constants.V4L2_CTRL_CLASS_CAMERA, Constants.V4L2_CID_BRIGHTNESS, Constants.V4L2_CID_HFLIP), "a class without controls");
        Assert.AreEqual(0, (await Ext(Get, Constants.V4L2_CTRL_WHICH_DEF_VAL, Constants.V4L2_CID_BRIGHTNESS)).Status);
        Assert.AreEqual(Constants.EINVAL, (await Ext(Try, Constants.V4L2_CTRL_WHICH_DEF_VAL, Constants.V4L2_CID_BRIGHTNESS)).Status);
        Assert.AreEqual(Constants.EINVAL, (await Ext(Set, Constants.V4L2_CTRL_WHICH_DEF_VAL, Constants.V4L2_CID_BRIGHTNESS)).Status);
        Assert.AreEqual(0, (await Ext(Get, 0)).Status, "count 0");

        Assert.AreEqual(0, (await session.VIDIOC_SUBSCRIBE_EVENT(new v4l2_event_subscription { type = Constants.V4L2_EVENT_CTRL, id = Constants.V4L2_CID_USER_CLASS, flags = Constants.V4L2_EVENT_SUB_FL_SEND_INITIAL })).Status);
        Assert.AreEqual(0, (await session.VIDIOC_SUBSCRIBE_EVENT(new v4l2_event_subscription { type = Constants.V4L2_EVENT_CTRL, id = Constants.V4L2_CID_HUE, flags = Constants.V4L2_EVENT_SUB_FL_SEND_INITIAL })).Status);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var initial = await session.Events.ReadAsync(timeout.Token);
        Assert.AreEqual((uint)Constants.V4L2_CID_HUE, initial.id, "the hue's initial event, none for the class control");
    });

    // v4l2-test-formats.cpp, testEnumFrameSizes / testEnumFrameIntervals / testParmType: every discrete size of every
    // format has frame intervals (else S_PARM "is supported ... but not for ENUM_FRAMEINTERVALS"), width + 1 has none,
    // and G_PARM zeroes the reserved fields and readbuffers of a node without read().
    [TestMethod]
    [DataRow(CameraApi.SinglePlanar)]
    [DataRow(CameraApi.MultiPlanar)]
    public Task Every_frame_size_of_every_format_has_frame_intervals(CameraApi api) => Streamer.Guard(async () =>
    {
        await using var rig = Rig.Start(new CameraOptions { Fast = true, Api = api });
        var session = await rig.Driver.OpenSessionAsync();
        var type = CameraFormats.BufferType(api);
        foreach (var pixelformat in CameraFormats.PixelFormatsFor(api))
        {
            for (uint index = 0; ; index++)
            {
                var size = await session.VIDIOC_ENUM_FRAMESIZES(new v4l2_frmsizeenum { index = index, pixel_format = pixelformat });
                if (size.Status != 0)
                {
                    Assert.AreEqual((Constants.EINVAL, (uint)CameraFormats.FrameSizes.Count), (size.Status, index));
                    break;
                }
                var (w, h) = (size.Payload.discrete.width, size.Payload.discrete.height);
                var interval = await session.VIDIOC_ENUM_FRAMEINTERVALS(new v4l2_frmivalenum { pixel_format = pixelformat, width = w, height = h });
                Assert.AreEqual((0, (uint)Constants.V4L2_FRMIVAL_TYPE_DISCRETE), (interval.Status, interval.Payload.type), $"{pixelformat:X8} {w}x{h}");
                Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_ENUM_FRAMEINTERVALS(new v4l2_frmivalenum { pixel_format = pixelformat, width = w + 1, height = h })).Status);
            }
        }
        var parm = new v4l2_streamparm { type = type };
        ((Span<uint>)parm.parm.capture.reserved).Fill(0xFFFFFFFF);
        parm.parm.capture.readbuffers = 7;
        var got = await session.VIDIOC_G_PARM(parm);
        Assert.AreEqual(0, got.Status);
        var answered = got.Payload;
        Assert.IsTrue(((ReadOnlySpan<uint>)answered.parm.capture.reserved).IndexOfAnyExcept(0u) < 0);
        Assert.AreEqual((0u, (uint)Constants.V4L2_CAP_TIMEPERFRAME), (got.Payload.parm.capture.readbuffers, got.Payload.parm.capture.capability));
        foreach (var fraction in new[] { new v4l2_fract { numerator = 0, denominator = 1 }, new v4l2_fract { numerator = 1, denominator = 0 } })
        {
            var set = new v4l2_streamparm { type = type };
            set.parm.capture.timeperframe = fraction;
            var answer = await session.VIDIOC_S_PARM(set);
            Assert.AreEqual((0, 1u, 30u), (answer.Status, answer.Payload.parm.capture.timeperframe.numerator, answer.Payload.parm.capture.timeperframe.denominator), "a zero fraction is the nominal rate");
        }
    });
}
