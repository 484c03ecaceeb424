using System;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Tests.Wire;

/// <summary>
/// The codecs allocate nothing in steady state: after warm-up, 1000 full cycles (driver encode, device decode,
/// device encode, driver decode) over chains cut into several segments leave the thread's allocated-bytes
/// counter where it was. A behaviour, not a timing: the expected figure is exactly zero.
/// </summary>
[TestClass]
public sealed class AllocationTests
{
    private const int WarmUp = 200;
    private const int Cycles = 1000;

    private delegate void Fill(IoctlMessage driver);

    [TestMethod]
    public void Qbuf_three_userptr_planes_allocates_nothing() => AssertNoAllocation(Ioctls.VIDIOC_QBUF.Descriptor, static driver =>
    {
        ref var buffer = ref driver.PayloadAs<v4l2_buffer>();
        (buffer.index, buffer.type, buffer.memory, buffer.length) = (1, 9, 2, 3);
        buffer.m.planes = 0x7000_0000;
        driver.ElementCount = 3;
        driver.SgEntryCount = 4;
        var planes = driver.ElementsAs<v4l2_plane>();
        for (var i = 0; i < 3; i++)
        {
            planes[i].length = 0x1000;
            planes[i].m.userptr = 0x8000_0000UL + (ulong)i * 0x1000;
        }
        driver.SgEntries[0] = new virtio_media_sg_entry { start = 0x1_0000, len = 0x800 };
        driver.SgEntries[1] = new virtio_media_sg_entry { start = 0x2_0000, len = 0x800 };
        driver.SgEntries[2] = new virtio_media_sg_entry { start = 0x3_0000, len = 0x1000 };
        driver.SgEntries[3] = new virtio_media_sg_entry { start = 0x4_0000, len = 0x1000 };
    });

    [TestMethod]
    public void S_ext_ctrls_sixteen_controls_allocates_nothing() => AssertNoAllocation(Ioctls.VIDIOC_S_EXT_CTRLS.Descriptor, static driver =>
    {
        ref var controls = ref driver.PayloadAs<v4l2_ext_controls>();
        (controls.which, controls.count, controls.controls) = (0x00990000, 16, 0x6000_0000);
        driver.ElementCount = 16;
        var elements = driver.ElementsAs<v4l2_ext_control>();
        var sg = 0;
        for (var i = 0; i < 16; i++)
        {
            elements[i].id = 0x00980900u + (uint)i;
            if (i % 4 == 3)
            {
                // Every fourth control carries a pointer payload with a one-entry SG list.
                elements[i].size = 32;
                elements[i].ptr = 0x6100_0000UL + (ulong)i * 32;
                sg++;
            }
            else
            {
                elements[i].value = i;
            }
        }
        driver.SgEntryCount = sg;
        for (var i = 0; i < sg; i++)
        {
            driver.SgEntries[i] = new virtio_media_sg_entry { start = 0x9_0000UL + (ulong)i * 0x1000, len = 32 };
        }
    });

    private static void AssertNoAllocation(IoctlDescriptor ioctl, Fill fill)
    {
        var driver = new IoctlMessage(sgCapacity: 64);
        var device = new IoctlMessage(sgCapacity: 64);
        var command = new byte[4096];
        var response = new byte[4096];
        // Cuts that split the header, the payload and the trailers, with an empty and a 1-byte segment.
        Memory<byte>[] commandOut = { command.AsMemory(0, 10), command.AsMemory(10, 0), command.AsMemory(10, 1), command.AsMemory(11, 50), command.AsMemory(61) };
        ReadOnlyMemory<byte>[] commandIn = { command.AsMemory(0, 7), command.AsMemory(7, 93), command.AsMemory(100, 0), command.AsMemory(100) };
        Memory<byte>[] responseOut = { response.AsMemory(0, 3), response.AsMemory(3, 1), response.AsMemory(4, 120), response.AsMemory(124) };
        ReadOnlyMemory<byte>[] responseIn = { response.AsMemory(0, 9), response.AsMemory(9, 0), response.AsMemory(9) };

        var failures = 0;
        for (var i = 0; i < WarmUp; i++)
        {
            failures += Cycle(ioctl, fill, driver, device, commandOut, commandIn, responseOut, responseIn);
        }
        Assert.AreEqual(0, failures, "a warm-up cycle failed");
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < Cycles; i++)
        {
            failures += Cycle(ioctl, fill, driver, device, commandOut, commandIn, responseOut, responseIn);
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.AreEqual(0, failures, "a measured cycle failed");
        Assert.AreEqual(0L, allocated, $"{ioctl.Name}: {allocated} bytes over {Cycles} cycles");
    }

    /// <summary>One full exchange; returns 1 when a step fails (no assertion inside the measured loop).</summary>
    private static int Cycle(IoctlDescriptor ioctl, Fill fill, IoctlMessage driver, IoctlMessage device,
        Memory<byte>[] commandOut, ReadOnlyMemory<byte>[] commandIn, Memory<byte>[] responseOut, ReadOnlyMemory<byte>[] responseIn)
    {
        driver.Reset(ioctl, 1);
        fill(driver);
        var writer = new ChainWriter(commandOut);
        if (!IoctlCodec.EncodeRequest(driver, ref writer).IsSuccess)
        {
            return 1;
        }
        var reader = new ChainReader(commandIn);
        if (!IoctlCodec.DecodeRequest(ref reader, device).IsSuccess)
        {
            return 1;
        }
        var answer = new ChainWriter(responseOut);
        if (!IoctlCodec.EncodeResponse(device, 0, true, ref answer).IsSuccess)
        {
            return 1;
        }
        var back = new ChainReader(responseIn);
        return IoctlCodec.DecodeResponse(ref back, driver, out var status).IsSuccess && status == 0 ? 0 : 1;
    }
}
