using System;
using System.IO;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Proxy;
using VirtioMedia.Runtime.Memory;

namespace VirtioMedia.Tests.Proxy;

/// <summary>
/// The proxy's rules that hold without a V4L2 node (the host has none; vivid in the proxy check's guest is the truth
/// for everything else): when SHARED_PAGES go to the host in place, which memory types are served, and what a path
/// that is not a V4L2 node gives.
/// </summary>
[TestClass]
public sealed unsafe class ProxyRulesTests
{
    private const ulong Base = 0x10_0000;
    private const ulong Page = 4096;

    private static virtio_media_sg_entry Entry(ulong start, uint length) => new() { start = start, len = length };

    private static IntPtr HostOf(GuestMemory memory, ulong address) =>
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
    public void Only_MMAP_with_shared_memory_and_SHARED_PAGES_are_served()
    {
        Assert.IsTrue(ProxySession.MemoryServed(Constants.V4L2_MEMORY_MMAP, sharedMemory: true));
        Assert.IsFalse(ProxySession.MemoryServed(Constants.V4L2_MEMORY_MMAP, sharedMemory: false), "without region 0 the guest would map garbage");
        Assert.IsTrue(ProxySession.MemoryServed(Constants.V4L2_MEMORY_USERPTR, sharedMemory: false));
        Assert.IsFalse(ProxySession.MemoryServed(Constants.V4L2_MEMORY_DMABUF, sharedMemory: true), "a host dma-buf fd cannot reach the guest");
        Assert.IsFalse(ProxySession.MemoryServed(Constants.V4L2_MEMORY_OVERLAY, sharedMemory: true));
        Assert.IsFalse(ProxySession.MemoryServed(0, sharedMemory: true));
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
