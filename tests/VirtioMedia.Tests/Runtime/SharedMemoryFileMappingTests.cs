using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Microsoft.Win32.SafeHandles;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.VhostUser;
using VirtioMedia.Tests.Samples;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// <see cref="SharedMemoryRegion.MapFile"/>, the zero-copy path of the V4L2 proxy, with a real memfd standing in for a
/// host driver's dma-buf: the mapping is a real MAP_FIXED mmap, so the bytes must travel through the kernel's page
/// cache both ways (pwrite/pread on the descriptor against the region's span), and an access to a range whose memory
/// was wrongly unmapped would fault and end the test process.
/// </summary>
[TestClass]
public sealed class SharedMemoryFileMappingTests
{
    private static readonly ulong Page = (ulong)Environment.SystemPageSize;

    [TestMethod]
    public void Bytes_written_through_the_file_are_the_regions_bytes_and_the_reverse()
    {
        using var region = SharedMemoryRegion.Allocate(0, 8 * Page);
        using var file = MemoryFile.Create("dma-buf stand-in", 2 * Page);
        var handle = new SafeFileHandle(file.Descriptor.Value, ownsHandle: false);
        var written = Pattern((int)(2 * Page), seed: 7);
        RandomAccess.Write(handle, written, 0);

        using var mapping = region.MapFile(file.Descriptor.Value, 0, 3 * Page, 2 * Page);

        CollectionAssert.AreEqual(written, region.GetSpan(3 * Page, 2 * Page).ToArray(), "the region does not show the file's bytes");
        region.GetSpan(3 * Page + 100, 4)[..4].Fill(0xC3);
        var back = new byte[4];
        RandomAccess.Read(handle, back, 100);
        CollectionAssert.AreEqual(new byte[] { 0xC3, 0xC3, 0xC3, 0xC3 }, back, "a write into the region did not reach the file");
        // What the file owner writes later shows at once: the pages are shared, not copied at map time.
        RandomAccess.Write(handle, new byte[] { 1, 2, 3 }, (long)Page + 5);
        CollectionAssert.AreEqual(new byte[] { 1, 2, 3 }, region.GetSpan(4 * Page + 5, 3).ToArray());
        // The pages around the mapping are still the region's own.
        Assert.IsTrue(region.GetSpan(2 * Page, Page).IndexOfAnyExcept((byte)0) < 0);
        Assert.IsTrue(region.GetSpan(5 * Page, Page).IndexOfAnyExcept((byte)0) < 0);
        Assert.AreEqual(1, region.FileMappings);
    }

    [TestMethod]
    public void Disposing_the_mapping_keeps_the_last_bytes_detached_from_the_file()
    {
        using var region = SharedMemoryRegion.Allocate(0, 4 * Page);
        using var file = MemoryFile.Create("dma-buf stand-in", Page);
        var handle = new SafeFileHandle(file.Descriptor.Value, ownsHandle: false);
        RandomAccess.Write(handle, Pattern((int)Page, seed: 3), 0);
        var mapping = region.MapFile(file.Descriptor.Value, 0, Page, Page);

        mapping.Dispose();
        mapping.Dispose();

        CollectionAssert.AreEqual(Pattern((int)Page, seed: 3), region.GetSpan(Page, Page).ToArray(), "the range lost the file's last bytes at the release");
        region.GetSpan(Page, 1)[0] = 0x77;
        var first = new byte[1];
        RandomAccess.Read(handle, first, 0);
        Assert.AreEqual(Pattern((int)Page, seed: 3)[0], first[0], "a write after the release reached the file");
        Assert.AreEqual(0, region.FileMappings);
        // The range can take a file again.
        using var again = region.MapFile(file.Descriptor.Value, 0, Page, Page);
        Assert.AreEqual(Pattern((int)Page, seed: 3)[0], region.GetSpan(Page, 1)[0]);
    }

    [TestMethod]
    public void A_length_short_of_a_page_maps_the_whole_page()
    {
        using var region = SharedMemoryRegion.Allocate(0, 2 * Page);
        using var file = MemoryFile.Create("dma-buf stand-in", Page);
        using var mapping = region.MapFile(file.Descriptor.Value, 0, 0, 100);
        Assert.AreEqual(Page, mapping.Length);
        Assert.ThrowsExactly<ArgumentException>(() => region.MapFile(file.Descriptor.Value, 0, 0, 1));
    }

    [TestMethod]
    public void Misaligned_outside_overlapping_and_empty_ranges_are_refused_with_the_reason()
    {
        using var region = SharedMemoryRegion.Allocate(0, 4 * Page);
        using var file = MemoryFile.Create("dma-buf stand-in", 4 * Page);
        var fd = file.Descriptor.Value;

        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => region.MapFile(fd, 0, 100, Page)).Message, "page size");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => region.MapFile(fd, 12, 0, Page)).Message, "page size");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => region.MapFile(fd, 0, 3 * Page, 2 * Page)).Message, "outside");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => region.MapFile(fd, 0, 0, 0)).Message, "empty");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => region.MapFile(fd, 0, ulong.MaxValue & ~(Page - 1), Page)).Message, "outside");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => region.MapFile(-1, 0, 0, Page));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => region.MapFile(fd, (long)(2 * Page), 0, 3 * Page)).Message, "past its end");
        using var mapping = region.MapFile(fd, 0, Page, 2 * Page);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => region.MapFile(fd, 0, 2 * Page, Page)).Message, "overlaps");
        // A file that cannot be mapped shared and writable (opened read-only: EACCES) is an IOException naming mmap,
        // and the range still has memory.
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, new byte[Page]);
            using var readOnly = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            StringAssert.Contains(Assert.ThrowsExactly<IOException>(() => region.MapFile((int)readOnly.DangerousGetHandle(), 0, 0, Page)).Message, "mmap");
        }
        finally
        {
            File.Delete(path);
        }
        region.GetSpan(0, Page)[0] = 1;
        Assert.AreEqual(1, region.FileMappings);
    }

    [TestMethod]
    public void Regions_that_are_not_this_process_own_mapping_refuse_files()
    {
        using var file = MemoryFile.Create("dma-buf stand-in", Page);
        // Memory wrapped from someone else: the vhost-user back-end's memfd, which the front-end maps on its own.
        using var backing = MemoryFile.Create("region 0", 4 * Page);
        using var wrapped = new SharedMemoryRegion(0, backing.Mapping.Address, backing.Length, released: null);
        Assert.IsFalse(wrapped.CanMapFiles);
        StringAssert.Contains(Assert.ThrowsExactly<NotSupportedException>(() => wrapped.MapFile(file.Descriptor.Value, 0, 0, Page)).Message, "another process");
        using var none = SharedMemoryRegion.None(0);
        Assert.IsFalse(none.CanMapFiles);
        Assert.ThrowsExactly<NotSupportedException>(() => none.MapFile(file.Descriptor.Value, 0, 0, Page));
        var ended = SharedMemoryRegion.Allocate(0, Page);
        Assert.IsTrue(ended.CanMapFiles);
        ended.Dispose();
        Assert.IsFalse(ended.CanMapFiles);
        Assert.ThrowsExactly<NotSupportedException>(() => ended.MapFile(file.Descriptor.Value, 0, 0, Page));
    }

    [TestMethod]
    public void A_lease_held_across_the_release_and_the_regions_end_keeps_the_memory_valid()
    {
        var region = SharedMemoryRegion.Allocate(0, 4 * Page);
        using var file = MemoryFile.Create("dma-buf stand-in", Page);
        RandomAccess.Write(new SafeFileHandle(file.Descriptor.Value, ownsHandle: false), Pattern((int)Page, seed: 9), 0);
        var mapping = region.MapFile(file.Descriptor.Value, 0, Page, Page);
        var lease = region.Lease();
        var span = region.GetSpan(Page, Page);

        mapping.Dispose(); // the range becomes a private copy under the leased span, which stays readable and writable
        CollectionAssert.AreEqual(Pattern((int)Page, seed: 9), span.ToArray());
        span[17] = 5;
        var second = region.MapFile(file.Descriptor.Value, 0, Page, Page);
        region.Dispose();
        second.Dispose(); // after the end: nothing may be mapped at the region's address any more
        Assert.AreEqual(Pattern((int)Page, seed: 9)[1], span[1], "the file mapping was replaced while a lease was out");
        span[0] = 1;
        lease.Dispose();
        Assert.AreEqual(0, region.FileMappings);
    }

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void Readers_under_leases_never_fault_while_files_come_and_go_and_the_region_ends()
    {
        using var file = MemoryFile.Create("dma-buf stand-in", 4 * Page);
        RandomAccess.Write(new SafeFileHandle(file.Descriptor.Value, ownsHandle: false), Pattern((int)(4 * Page), seed: 1), 0);
        for (var round = 0; round < 50; round++)
        {
            var region = SharedMemoryRegion.Allocate(0, 8 * Page);
            var stop = 0;
            var reader = Task.Factory.StartNew(() =>
            {
                var sum = 0;
                while (Volatile.Read(ref stop) == 0)
                {
                    using var lease = region.Lease();
                    if (!region.TryGetSpan(0, 8 * Page, out var span))
                    {
                        return sum;
                    }
                    foreach (var b in span)
                    {
                        sum += b;
                    }
                }
                return sum;
            }, TaskCreationOptions.LongRunning);
            for (var i = 0; i < 20; i++)
            {
                region.MapFile(file.Descriptor.Value, 0, 2 * Page, 4 * Page).Dispose();
            }
            var last = region.MapFile(file.Descriptor.Value, 0, 2 * Page, 4 * Page);
            region.Dispose();
            last.Dispose();
            Volatile.Write(ref stop, 1);
            reader.Wait();
        }
    }

    [TestMethod]
    public async Task A_driver_mapping_of_an_MMAP_buffer_shows_the_file_mapped_over_it_in_place()
    {
        // The proxy's zero copy as the driver side sees it: the device's MMAP buffer, mapped by the driver with the
        // MMAP command, then a file mapped over the buffer's range of the in-process transport's region 0.
        await using var rig = CameraTests.Rig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        var granted = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 1, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP });
        Assert.AreEqual(0, granted.Status);
        var info = await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP });
        var map = await session.MapAsync(info.Payload.m.offset, writable: true);
        var length = (ulong)info.Payload.length;
        using var file = MemoryFile.Create("dma-buf stand-in", length);
        var handle = new SafeFileHandle(file.Descriptor.Value, ownsHandle: false);
        var frame = Pattern((int)length, seed: 5);
        RandomAccess.Write(handle, frame, 0);
        Assert.IsTrue(rig.Transport.SharedMemory.CanMapFiles, "the in-process region 0 is this process's own mapping");

        using (rig.Transport.SharedMemory.MapFile(file.Descriptor.Value, 0, info.Payload.m.offset, length))
        {
            CollectionAssert.AreEqual(frame, map.Span.ToArray(), "the driver's mapping does not show the file's pages");
            map.Span[0] = 0xEE;
            var first = new byte[1];
            RandomAccess.Read(handle, first, 0);
            Assert.AreEqual(0xEE, first[0], "a driver write did not reach the file");
        }
        frame[0] = 0xEE;
        CollectionAssert.AreEqual(frame, map.Span.ToArray(), "the driver's mapping lost the last frame at the release (the spec: until MUNMAP)");
        await rig.Driver.UnmapAsync(map);
    }

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)(i * 31 + seed + 1);
        }
        return bytes;
    }
}
