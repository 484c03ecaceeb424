using System;
using System.IO;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Proxy;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Tests.Samples;

namespace VirtioMedia.Tests.Proxy;

/// <summary>
/// The proxy's rules that hold without a V4L2 node (the host has none; vivid in the proxy check's guest is the truth
/// for everything else): when SHARED_PAGES go to the host in place, which memory types and buffer capabilities are
/// served, the EXPBUF flags taken, which virtio objects a VIRTIO_OBJECT plane may name, and what a path that is not a
/// V4L2 node gives.
/// </summary>
[TestClass]
public sealed class ProxyRulesTests
{
    private const ulong Base = 0x10_0000;
    private const ulong Page = 4096;

    private static virtio_media_sg_entry Entry(ulong start, uint length) => new() { start = start, len = length };

    private static unsafe IntPtr HostOf(GuestMemory memory, ulong address) =>
        (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetReference(memory.GetSpan(address, 1)));

    [TestMethod]
    public void Adjacent_pages_of_one_region_are_handed_over_in_place_at_their_host_address()
    {
        using var memory = GuestMemory.Allocate(Base, 16 * Page);
        ReadOnlySpan<virtio_media_sg_entry> entries = [Entry(Base + Page, (uint)Page), Entry(Base + 2 * Page, (uint)Page), Entry(Base + 3 * Page, 100)];
        Assert.IsTrue(ScatterRanges.TryGetHostRange(memory, entries, 2 * Page + 100, out var host));
        Assert.AreEqual(HostOf(memory, Base + Page), host);
        // A buffer shorter than its pages is still one range.
        Assert.IsTrue(ScatterRanges.TryGetHostRange(memory, entries, Page, out _));
    }

    [TestMethod]
    public void Pages_out_of_order_with_a_gap_or_too_short_go_through_a_bounce_buffer()
    {
        using var memory = GuestMemory.Allocate(Base, 16 * Page);
        Assert.IsFalse(ScatterRanges.TryGetHostRange(memory, [Entry(Base + 2 * Page, (uint)Page), Entry(Base + Page, (uint)Page)], 2 * Page, out _), "reversed");
        Assert.IsFalse(ScatterRanges.TryGetHostRange(memory, [Entry(Base, (uint)Page), Entry(Base + 2 * Page, (uint)Page)], 2 * Page, out _), "a gap");
        Assert.IsFalse(ScatterRanges.TryGetHostRange(memory, [Entry(Base, (uint)Page)], Page + 1, out _), "the buffer is longer than its pages");
        Assert.IsFalse(ScatterRanges.TryGetHostRange(memory, [Entry(Base, 0), Entry(Base, (uint)Page)], Page, out _), "an empty entry");
        Assert.IsFalse(ScatterRanges.TryGetHostRange(memory, [], Page, out _), "no entry");
        Assert.IsFalse(ScatterRanges.TryGetHostRange(memory, [Entry(Base, (uint)Page)], 0, out _), "no length");
    }

    [TestMethod]
    public void Pages_outside_guest_memory_or_across_two_regions_are_never_handed_over()
    {
        var first = GuestMemoryRegion.Allocate(Base, 4 * Page);
        var second = GuestMemoryRegion.Allocate(Base + 4 * Page, 4 * Page);
        using var memory = new GuestMemory(first, second);
        // Adjacent in guest-physical memory but two host mappings: not one host range.
        Assert.IsFalse(ScatterRanges.TryGetHostRange(memory, [Entry(Base + 3 * Page, (uint)Page), Entry(Base + 4 * Page, (uint)Page)], 2 * Page, out _));
        Assert.IsFalse(ScatterRanges.TryGetHostRange(memory, [Entry(Base + 8 * Page, (uint)Page)], Page, out _), "beyond the end");
        Assert.IsFalse(ScatterRanges.TryGetHostRange(memory, [Entry(ulong.MaxValue - 10, 100)], 100, out _), "wrapping");
        Assert.IsTrue(ScatterRanges.TryGetHostRange(memory, [Entry(Base + 4 * Page, (uint)Page)], Page, out var host));
        Assert.AreEqual(HostOf(memory, Base + 4 * Page), host);
    }

    [TestMethod]
    public void MMAP_with_shared_memory_SHARED_PAGES_and_VIRTIO_OBJECT_are_served()
    {
        Assert.IsTrue(ProxySession.MemoryServed(Constants.V4L2_MEMORY_MMAP, sharedMemory: true));
        Assert.IsFalse(ProxySession.MemoryServed(Constants.V4L2_MEMORY_MMAP, sharedMemory: false), "without region 0 the guest would map garbage");
        Assert.IsTrue(ProxySession.MemoryServed(Constants.V4L2_MEMORY_USERPTR, sharedMemory: false));
        Assert.IsTrue(ProxySession.MemoryServed(Constants.V4L2_MEMORY_DMABUF, sharedMemory: false), "virtio objects reach the host as USERPTR memory");
        Assert.IsFalse(ProxySession.MemoryServed(Constants.V4L2_MEMORY_OVERLAY, sharedMemory: true));
        Assert.IsFalse(ProxySession.MemoryServed(0, sharedMemory: true));
        Assert.AreEqual((uint)Constants.V4L2_MEMORY_USERPTR, ProxyQueue.HostMemoryOf(Constants.V4L2_MEMORY_DMABUF), "the host never sees a guest DMABUF queue");
        Assert.AreEqual((uint)Constants.V4L2_MEMORY_MMAP, ProxyQueue.HostMemoryOf(Constants.V4L2_MEMORY_MMAP));
        Assert.AreEqual((uint)Constants.V4L2_MEMORY_USERPTR, ProxyQueue.HostMemoryOf(Constants.V4L2_MEMORY_USERPTR));
    }

    [TestMethod]
    public void DMABUF_is_announced_exactly_when_the_host_takes_USERPTR_and_MMAP_only_with_region_0()
    {
        const uint Mmap = Constants.V4L2_BUF_CAP_SUPPORTS_MMAP, UserPtr = Constants.V4L2_BUF_CAP_SUPPORTS_USERPTR, DmaBuf = Constants.V4L2_BUF_CAP_SUPPORTS_DMABUF;
        const uint Orphaned = Constants.V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS, Requests = Constants.V4L2_BUF_CAP_SUPPORTS_REQUESTS;
        // vivid's answer: every memory type, orphaned buffers, requests.
        Assert.AreEqual(Mmap | UserPtr | DmaBuf | Orphaned, ProxySession.ServedCapabilities(Mmap | UserPtr | DmaBuf | Orphaned | Requests, sharedMemory: true));
        Assert.AreEqual(UserPtr | DmaBuf | Orphaned, ProxySession.ServedCapabilities(Mmap | UserPtr | DmaBuf | Orphaned, sharedMemory: false));
        // A host that imports dma-bufs but takes no USERPTR (many codecs): its DMABUF cannot serve region 0 memory.
        Assert.AreEqual(Mmap, ProxySession.ServedCapabilities(Mmap | DmaBuf, sharedMemory: true));
        // A host without DMABUF but with USERPTR: virtio objects are served all the same.
        Assert.AreEqual(Mmap | UserPtr | DmaBuf, ProxySession.ServedCapabilities(Mmap | UserPtr, sharedMemory: true));
    }

    [TestMethod]
    public void EXPBUF_takes_the_flags_videobuf2_takes()
    {
        const uint O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CLOEXEC = 0x80000, O_CREAT = 0x40, O_NONBLOCK = 0x800;
        foreach (var flags in new[] { O_RDONLY, O_WRONLY, O_RDWR, O_CLOEXEC, O_RDWR | O_CLOEXEC, 3u })
        {
            Assert.IsTrue(ProxySession.ExportFlagsValid(flags), $"flags 0x{flags:x}");
        }
        foreach (var flags in new[] { O_CREAT, O_NONBLOCK, O_RDWR | O_NONBLOCK, 0x8000_0000u })
        {
            Assert.IsFalse(ProxySession.ExportFlagsValid(flags), $"flags 0x{flags:x}");
        }
    }

    [TestMethod]
    public async Task A_VIRTIO_OBJECT_is_taken_only_when_exported_and_as_long_as_the_hosts_plane_and_held_past_its_withdrawal()
    {
        var (rig, owner) = await StartWithSessionAsync();
        await using var disposeRig = rig;
        var allocator = rig.Device.Mmap;
        var buffer = allocator.Allocate(owner, 3 * Page) ?? throw new AssertFailedException("no room in region 0");
        var objects = rig.Device.Objects;

        Assert.AreEqual(Constants.EINVAL, ProxySession.ResolveObject(objects, Guid.NewGuid(), (uint)Page, out _), "a UUID never exported");
        Assert.IsTrue(objects.TryExport(buffer, out var uuid));
        Assert.AreEqual(Constants.EINVAL, ProxySession.ResolveObject(objects, Guid.Empty, (uint)Page, out _), "the nil UUID");
        Assert.AreEqual(Constants.EINVAL, ProxySession.ResolveObject(objects, uuid, (uint)(3 * Page + 1), out _), "an object shorter than the host's plane");
        Assert.AreEqual(Constants.EINVAL, ProxySession.ResolveObject(objects, uuid, 0, out _), "a host plane of no bytes");
        Assert.AreEqual(0, ProxySession.ResolveObject(objects, uuid, (uint)(3 * Page), out var found));
        Assert.AreSame(buffer, found.Buffer);

        // The hold keeps the range from being given to another buffer after the export is withdrawn and the owner lets go.
        var hold = found.TryHold() ?? throw new AssertFailedException("no hold on a live object");
        var free = allocator.FreeBytes;
        Assert.IsTrue(objects.Remove(uuid));
        allocator.Release(buffer);
        Assert.AreEqual(Constants.EINVAL, ProxySession.ResolveObject(objects, uuid, (uint)Page, out _), "a withdrawn UUID");
        Assert.AreEqual(free, allocator.FreeBytes, "the held range was freed");
        Assert.IsTrue(buffer.TryGetSpan(out var span) && span.Length == (int)(3 * Page));
        hold.Dispose();
        hold.Dispose();
        Assert.AreEqual(free + 3 * Page, allocator.FreeBytes, "the last reference, the hold, did not free the range");
        Assert.IsFalse(buffer.TryGetSpan(out _));
        Assert.IsNull(found.TryHold(), "a hold on freed memory");
    }

    [TestMethod]
    public async Task A_refused_QBUF_keeps_the_object_the_host_still_has_and_lets_the_new_one_go()
    {
        var (rig, owner) = await StartWithSessionAsync();
        await using var disposeRig = rig;
        var allocator = rig.Device.Mmap;
        var first = allocator.Allocate(owner, Page)!;
        var second = allocator.Allocate(owner, Page)!;
        Assert.IsTrue(rig.Device.Objects.TryExport(first, out var firstUuid));
        Assert.IsTrue(rig.Device.Objects.TryExport(second, out var secondUuid));
        Assert.IsTrue(rig.Device.Objects.TryResolve(firstUuid, out var firstObject));
        Assert.IsTrue(rig.Device.Objects.TryResolve(secondUuid, out var secondObject));
        // The host has the first object; a QBUF names the second.
        var proxied = new ProxyBuffer();
        proxied.Objects[0] = firstObject.TryHold() ?? throw new AssertFailedException("no hold");
        proxied.PendingObjects[0] = secondObject.TryHold() ?? throw new AssertFailedException("no hold");
        // Both exports withdrawn and released by their owner: only the proxy's holds keep them.
        foreach (var (uuid, buffer) in new[] { (firstUuid, first), (secondUuid, second) })
        {
            Assert.IsTrue(rig.Device.Objects.Remove(uuid));
            allocator.Release(buffer);
        }
        Assert.AreEqual(2, allocator.LiveBuffers);

        proxied.CommitObjects(taken: false);
        Assert.AreEqual((1, true, false), (allocator.LiveBuffers, first.TryGetSpan(out _), second.TryGetSpan(out _)), "the refused object is not let go, or the host's one is");

        var third = allocator.Allocate(owner, Page)!;
        Assert.IsTrue(rig.Device.Objects.TryExport(third, out var thirdUuid));
        Assert.IsTrue(rig.Device.Objects.TryResolve(thirdUuid, out var thirdObject));
        proxied.PendingObjects[0] = thirdObject.TryHold();
        proxied.CommitObjects(taken: true);
        Assert.IsFalse(first.TryGetSpan(out _), "the object the host no longer has is still held");
        Assert.AreSame(third, proxied.Objects[0]!.Buffer);
        Assert.IsNull(proxied.PendingObjects[0]);
        proxied.Release(allocator);
        Assert.IsNull(proxied.Objects[0]);
    }

    [TestMethod]
    public void A_node_that_cannot_export_answers_the_errno_that_keeps_the_copy_path_and_no_descriptor()
    {
        // /dev/null takes no V4L2 ioctl: ENOTTY, as a driver without VIDIOC_EXPBUF answers.
        using var node = HostNode.Open("/dev/null");
        Assert.AreEqual(Constants.ENOTTY, node.Export(Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, 0, 0, out var fd));
        Assert.AreEqual(-1, fd);
        HostNode.CloseDescriptor(fd); // nothing to close, nothing closed
    }

    [TestMethod]
    public void Statistics_count_frames_and_copies_per_path_and_sum_them_per_memory_type()
    {
        var statistics = new ProxyStatistics();
        statistics.CountFrame(ProxyMemoryPath.MmapZeroCopy, 0);
        statistics.CountFrame(ProxyMemoryPath.MmapZeroCopy, 0);
        statistics.CountFrame(ProxyMemoryPath.MmapCopy, 2);
        statistics.CountFrame(ProxyMemoryPath.SharedPagesBounce, 1);
        statistics.CountFrame(ProxyMemoryPath.VirtioObject, 0);
        Assert.AreEqual((2L, 0L, 0.0), (statistics.Frames(ProxyMemoryPath.MmapZeroCopy), statistics.Copies(ProxyMemoryPath.MmapZeroCopy), statistics.CopiesPerFrame(ProxyMemoryPath.MmapZeroCopy)));
        Assert.AreEqual(2.0, statistics.CopiesPerFrame(ProxyMemoryPath.MmapCopy));
        Assert.AreEqual((3L, 2L), (statistics.MmapFrames, statistics.MmapCopies));
        Assert.AreEqual((1L, 1L), (statistics.SharedPagesFrames, statistics.SharedPagesCopies));
        Assert.AreEqual(0.0, statistics.CopiesPerFrame(ProxyMemoryPath.SharedPagesDirect), "a path without frames");
        Assert.AreEqual(1L, statistics.Frames(ProxyMemoryPath.VirtioObject));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => statistics.Frames((ProxyMemoryPath)99));
    }

    // A device whose registry and region 0 hold real MMAP buffers, and the device side of its first session to own them.
    private static async Task<(CameraTests.Rig Rig, DeviceSession Owner)> StartWithSessionAsync()
    {
        var rig = CameraTests.Rig.Start();
        await rig.Driver.OpenSessionAsync();
        return rig.Device.TryGetSession(1, out var owner) ? (rig, owner) : throw new AssertFailedException("no session 1");
    }

    [TestMethod]
    public void A_file_that_is_not_a_V4L2_node_is_refused_with_the_kernels_answer()
    {
        // /dev/null answers VIDIOC_QUERYCAP with ENOTTY, as any non-V4L2 file does.
        var error = Assert.ThrowsExactly<IOException>(() => new V4l2Proxy("/dev/null"));
        StringAssert.Contains(error.Message, $"errno {Constants.ENOTTY}");
        var missing = Assert.ThrowsExactly<IOException>(() => new V4l2Proxy("/dev/no-such-video-node"));
        StringAssert.Contains(missing.Message, "errno 2");
    }
}
