using System;
using System.Buffers.Binary;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Tests.Wire;

/// <summary>
/// The device role returns the driver's pointers and fd placeholders as received, even when a handler changed
/// them. One test per normative statement of the spec (5.22, "Device Operation: Shared Pages" and "Device
/// Operation: Virtio Object"); the expected bytes are read at offsets written out from the UAPI: v4l2_buffer
/// memory @60, m @64, length @72 (88 bytes); v4l2_plane m @8 (64 bytes); v4l2_exportbuffer fd @16 (64 bytes).
/// Response offsets are those plus the 8-byte virtio_media_resp_header.
/// </summary>
[TestClass]
public sealed class PreservationTests
{
    /// <summary>Encodes the driver's request, decodes it as the device, lets <paramref name="handler"/> change the
    /// message, and returns the device-writable part the device then writes.</summary>
    private static byte[] Answer(IoctlMessage driver, Action<IoctlMessage> handler)
    {
        var command = Chains.Write((ref ChainWriter w) => IoctlCodec.EncodeRequest(driver, ref w));
        Assert.IsTrue(command.Result.IsSuccess, command.Result.ToString());
        var device = new IoctlMessage();
        var decoded = Chains.Read(command.Bytes, (ref ChainReader r) => IoctlCodec.DecodeRequest(ref r, device));
        Assert.IsTrue(decoded.Result.IsSuccess, decoded.Result.ToString());
        handler(device);
        var response = Chains.Write((ref ChainWriter w) => IoctlCodec.EncodeResponse(device, 0, true, ref w), random: new Random(3));
        Assert.IsTrue(response.Result.IsSuccess, response.Result.ToString());
        return response.Bytes;
    }

    private static IoctlMessage Buffer(uint type, uint memory, uint length)
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_QBUF.Descriptor, 1);
        ref var buffer = ref driver.PayloadAs<v4l2_buffer>();
        (buffer.type, buffer.memory, buffer.length) = (type, memory, length);
        return driver;
    }

    [TestMethod]
    public void Shared_pages_m_userptr_of_v4l2_buffer_is_returned_to_the_driver_with_the_same_value()
    {
        var driver = Buffer(type: 1, memory: 2, length: 0x1000);
        driver.PayloadAs<v4l2_buffer>().m.userptr = 0x0000_7F00_1234_5000;
        driver.SgEntryCount = 1;
        driver.SgEntries[0] = new virtio_media_sg_entry { start = 0x4_0000_0000, len = 0x1000 };
        var response = Answer(driver, device => device.PayloadAs<v4l2_buffer>().m.userptr = 0xBAD);
        Assert.AreEqual(0x0000_7F00_1234_5000UL, BinaryPrimitives.ReadUInt64LittleEndian(response.AsSpan(8 + 64)));
    }

    [TestMethod]
    public void Shared_pages_m_userptr_of_v4l2_plane_is_returned_to_the_driver_with_the_same_value()
    {
        var driver = Buffer(type: 9, memory: 2, length: 3);
        driver.PayloadAs<v4l2_buffer>().m.planes = 0x5000_0000;
        driver.ElementCount = 3;
        driver.SgEntryCount = 3;
        for (var i = 0; i < 3; i++)
        {
            driver.ElementsAs<v4l2_plane>()[i].length = 0x100;
            driver.ElementsAs<v4l2_plane>()[i].m.userptr = 0x7F00_0000UL + (ulong)i * 0x1000;
            driver.SgEntries[i] = new virtio_media_sg_entry { start = 0x9_0000_0000UL + (ulong)i * 0x1000, len = 0x100 };
        }
        var response = Answer(driver, device =>
        {
            foreach (ref var plane in device.ElementsAs<v4l2_plane>())
            {
                plane.m.userptr = 0;
                plane.bytesused = 0x80; // what the handler may change
            }
        });
        for (var i = 0; i < 3; i++)
        {
            var plane = response.AsSpan(8 + 88 + i * 64);
            Assert.AreEqual(0x7F00_0000UL + (ulong)i * 0x1000, BinaryPrimitives.ReadUInt64LittleEndian(plane.Slice(8)), $"plane {i}");
            Assert.AreEqual(0x80u, BinaryPrimitives.ReadUInt32LittleEndian(plane), $"plane {i} bytesused is the device's");
        }
    }

    [TestMethod]
    public void Virtio_object_fd_placeholder_of_v4l2_buffer_is_left_unchanged()
    {
        var driver = Buffer(type: 2, memory: 4, length: 0x1000);
        driver.PayloadAs<v4l2_buffer>().m.fd = -1;
        driver.UuidCount = 1;
        var response = Answer(driver, device => device.PayloadAs<v4l2_buffer>().m.fd = 17);
        Assert.AreEqual(-1, BinaryPrimitives.ReadInt32LittleEndian(response.AsSpan(8 + 64)));
    }

    [TestMethod]
    public void Virtio_object_fd_placeholder_of_v4l2_plane_is_left_unchanged()
    {
        var driver = Buffer(type: 10, memory: 4, length: 2);
        driver.PayloadAs<v4l2_buffer>().m.planes = 0x6000_0000;
        driver.ElementCount = 2;
        driver.UuidCount = 2;
        driver.ElementsAs<v4l2_plane>()[0].m.fd = -1;
        driver.ElementsAs<v4l2_plane>()[1].m.fd = -7;
        var response = Answer(driver, device =>
        {
            foreach (ref var plane in device.ElementsAs<v4l2_plane>())
            {
                plane.m.fd = 3;
            }
        });
        Assert.AreEqual(-1, BinaryPrimitives.ReadInt32LittleEndian(response.AsSpan(8 + 88 + 8)));
        Assert.AreEqual(-7, BinaryPrimitives.ReadInt32LittleEndian(response.AsSpan(8 + 88 + 64 + 8)));
    }

    [TestMethod]
    public void Virtio_object_fd_placeholder_of_v4l2_exportbuffer_is_left_unchanged()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_EXPBUF.Descriptor, 1);
        driver.PayloadAs<v4l2_exportbuffer>().fd = -1;
        driver.UuidCount = 1;
        var response = Answer(driver, device => device.PayloadAs<v4l2_exportbuffer>().fd = 42);
        Assert.AreEqual(-1, BinaryPrimitives.ReadInt32LittleEndian(response.AsSpan(8 + 16)));
    }

    [TestMethod]
    public void Mmap_offset_is_the_devices_to_set()
    {
        // Only USERPTR and DMABUF fields are preserved: for MMAP the device reports m.offset (QUERYBUF, QBUF).
        var driver = Buffer(type: 1, memory: 1, length: 0x1000);
        var response = Answer(driver, device => device.PayloadAs<v4l2_buffer>().m.offset = 0x3000);
        Assert.AreEqual(0x3000u, BinaryPrimitives.ReadUInt32LittleEndian(response.AsSpan(8 + 64)));
    }
}
