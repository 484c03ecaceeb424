using System;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Tests.Wire;

/// <summary>
/// VIRTIO_MEDIA_CMD_IOCTL in both roles against bytes written out from the spec: struct virtio_media_cmd_ioctl
/// { hdr { le32 cmd = 3; reserved } le32 session_id; le32 code = _IOC_NR }, then payload and trailers.
/// </summary>
[TestClass]
public sealed class IoctlGoldenTests
{
    private const uint Session = 5;

    private static LeBytes IoctlHeader(uint code) => new LeBytes().U32(3).U32(0).U32(Session).U32(code);

    /// <summary>Driver encodes, compares with the golden bytes, device decodes them cut at random; returns the device's message.</summary>
    private static IoctlMessage DriverToDevice(IoctlMessage driver, byte[] expected, int seed)
    {
        var encoded = Chains.Write((ref ChainWriter w) => IoctlCodec.EncodeRequest(driver, ref w), random: new Random(seed));
        Assert.IsTrue(encoded.Result.IsSuccess, encoded.Result.ToString());
        CollectionAssert.AreEqual(expected, encoded.Bytes);
        var device = new IoctlMessage();
        var decoded = Chains.Read(expected, (ref ChainReader r) => IoctlCodec.DecodeRequest(ref r, device), new Random(seed + 1));
        Assert.IsTrue(decoded.Result.IsSuccess, decoded.Result.ToString());
        Assert.AreEqual(0L, decoded.Remaining);
        return device;
    }

    /// <summary>Device encodes its response, compares, the driver decodes it cut at random.</summary>
    private static void DeviceToDriver(IoctlMessage device, IoctlMessage driver, byte[] expected, int seed)
    {
        var encoded = Chains.Write((ref ChainWriter w) => IoctlCodec.EncodeResponse(device, 0, true, ref w), random: new Random(seed));
        Assert.IsTrue(encoded.Result.IsSuccess, encoded.Result.ToString());
        CollectionAssert.AreEqual(expected, encoded.Bytes);
        var status = -1;
        var decoded = Chains.Read(expected, (ref ChainReader r) => IoctlCodec.DecodeResponse(ref r, driver, out status), new Random(seed + 1));
        Assert.IsTrue(decoded.Result.IsSuccess, decoded.Result.ToString());
        Assert.AreEqual(0, status);
    }

    [TestMethod]
    public void G_fmt_payload_in_both_parts()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_G_FMT.Descriptor, Session);
        driver.PayloadAs<v4l2_format>().type = 1;
        // code 4; struct v4l2_format (208 bytes): le32 type = V4L2_BUF_TYPE_VIDEO_CAPTURE (1), 4 bytes padding, union fmt @8
        var command = IoctlHeader(4).U32(1).PadTo(16 + 208).ToArray();
        var device = DriverToDevice(driver, command, 10);
        Assert.AreEqual(1u, device.PayloadAs<v4l2_format>().type);

        ref var format = ref device.PayloadAs<v4l2_format>();
        format.fmt.pix.width = 640;
        format.fmt.pix.height = 480;
        format.fmt.pix.pixelformat = 0x56595559; // 'YUYV'
        // resp_header { status 0; reserved }, v4l2_format: type @0, fmt.pix.width @8, height @12, pixelformat @16
        var response = new LeBytes().U32(0).U32(0).U32(1).U32(0).U32(640).U32(480).U32(0x56595559).PadTo(8 + 208).ToArray();
        DeviceToDriver(device, driver, response, 11);
        Assert.AreEqual(480u, driver.PayloadAs<v4l2_format>().fmt.pix.height);
    }

    [TestMethod]
    public void Error_response_without_payload_leaves_it_unmodified()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_G_FMT.Descriptor, Session);
        driver.PayloadAs<v4l2_format>().type = 1;
        Chains.Write((ref ChainWriter w) => IoctlCodec.EncodeRequest(driver, ref w));
        var response = new LeBytes().U32(22).U32(0).ToArray(); // EINVAL, header only
        var status = 0;
        Assert.IsTrue(Chains.Read(response, (ref ChainReader r) => IoctlCodec.DecodeResponse(ref r, driver, out status)).Result.IsSuccess);
        Assert.AreEqual(22, status);
        Assert.AreEqual(1u, driver.PayloadAs<v4l2_format>().type);
    }

    [TestMethod]
    public void Qbuf_mmap_single_planar_has_no_trailer()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_QBUF.Descriptor, Session);
        ref var buffer = ref driver.PayloadAs<v4l2_buffer>();
        (buffer.index, buffer.type, buffer.memory, buffer.length) = (3, 1, 1, 4096);
        buffer.m.offset = 0x2000;
        // code 15; v4l2_buffer: index @0, type @4 (CAPTURE), memory @60 (MMAP), m.offset @64, length @72
        var command = IoctlHeader(15).U32(3).U32(1).PadTo(16 + 60).U32(1).U32(0x2000).U32(0).U32(4096).PadTo(16 + 88).ToArray();
        var device = DriverToDevice(driver, command, 20);
        Assert.AreEqual(0, device.ElementCount + device.SgEntryCount + device.UuidCount);

        var response = new LeBytes().U32(0).U32(0).Raw(command[16..]).ToArray();
        DeviceToDriver(device, driver, response, 21);
    }

    [TestMethod]
    public void Qbuf_userptr_three_planes_with_sg_lists()
    {
        const ulong planesPointer = 0x0000_7FFF_DEAD_0000;
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_QBUF.Descriptor, Session);
        ref var buffer = ref driver.PayloadAs<v4l2_buffer>();
        (buffer.index, buffer.type, buffer.memory, buffer.length) = (1, 10, 2, 3);
        buffer.m.planes = planesPointer;
        driver.ElementCount = 3;
        var planes = driver.ElementsAs<v4l2_plane>();
        uint[] lengths = { 0x3000, 0x1000, 0x800 };
        for (var i = 0; i < 3; i++)
        {
            planes[i].length = lengths[i];
            planes[i].bytesused = lengths[i];
            planes[i].m.userptr = 0x1000_0000UL * (ulong)(i + 1);
        }
        // Plane 0 scattered over two pages runs, planes 1 and 2 contiguous.
        driver.SgEntryCount = 4;
        driver.SgEntries[0] = new virtio_media_sg_entry { start = 0x8_0000_0000, len = 0x2000 };
        driver.SgEntries[1] = new virtio_media_sg_entry { start = 0x9_0000_0000, len = 0x1000 };
        driver.SgEntries[2] = new virtio_media_sg_entry { start = 0xA_0000_0000, len = 0x1000 };
        driver.SgEntries[3] = new virtio_media_sg_entry { start = 0xB_0000_0000, len = 0x800 };

        // code 15; v4l2_buffer: index 1, type 10 (OUTPUT_MPLANE), memory @60 = USERPTR (2), m.planes @64, length @72 = 3 planes
        var payload = new LeBytes().U32(1).U32(10).PadTo(60).U32(2).U64(planesPointer).U32(3).PadTo(88);
        // v4l2_plane: bytesused @0, length @4, m.userptr @8, data_offset @16, reserved[11] -> 64 bytes
        var planeBytes = new LeBytes();
        for (var i = 0; i < 3; i++)
        {
            planeBytes.U32(lengths[i]).U32(lengths[i]).U64(0x1000_0000UL * (ulong)(i + 1)).PadTo(64 * (i + 1));
        }
        // virtio_media_sg_entry { le64 start; le32 len; le32 __reserved; } per entry, lists in plane order
        var sg = new LeBytes()
            .U64(0x8_0000_0000).U32(0x2000).U32(0)
            .U64(0x9_0000_0000).U32(0x1000).U32(0)
            .U64(0xA_0000_0000).U32(0x1000).U32(0)
            .U64(0xB_0000_0000).U32(0x800).U32(0);
        var command = IoctlHeader(15).Raw(payload.ToArray()).Raw(planeBytes.ToArray()).Raw(sg.ToArray()).ToArray();
        Assert.AreEqual(16 + 88 + 3 * 64 + 4 * 16, command.Length);
        var device = DriverToDevice(driver, command, 30);
        Assert.AreEqual(3, device.SgListCount);
        Assert.AreEqual(2, device.SgList(0).Length);
        Assert.AreEqual(0xB_0000_0000UL, device.SgList(2)[0].start);

        // The device's handler nulls the pointer, as the reference implementation does; the codec restores it.
        device.PayloadAs<v4l2_buffer>().m.planes = 0;
        // Device-writable part: header, payload, planes; the SG lists are not repeated.
        var response = new LeBytes().U32(0).U32(0).Raw(payload.ToArray()).Raw(planeBytes.ToArray()).ToArray();
        DeviceToDriver(device, driver, response, 31);
        Assert.AreEqual(planesPointer, driver.PayloadAs<v4l2_buffer>().m.planes);
    }

    [TestMethod]
    public void Qbuf_dmabuf_with_uuids_in_both_parts()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_QBUF.Descriptor, Session);
        ref var buffer = ref driver.PayloadAs<v4l2_buffer>();
        (buffer.type, buffer.memory, buffer.length) = (9, 4, 2);
        buffer.m.planes = 0x5555_0000;
        driver.ElementCount = 2;
        var planes = driver.ElementsAs<v4l2_plane>();
        planes[0].length = 100;
        planes[0].m.fd = -1;
        planes[1].length = 200;
        planes[1].m.fd = -1;
        driver.UuidCount = 2;
        for (var i = 0; i < 32; i++)
        {
            driver.Uuids[i] = (byte)(0xA0 + i);
        }
        // type 9 (CAPTURE_MPLANE), memory 4 (DMABUF), m.planes, length 2; planes with fd -1 placeholders; 2 UUIDs after the last plane
        var payload = new LeBytes().U32(0).U32(9).PadTo(60).U32(4).U64(0x5555_0000).U32(2).PadTo(88).ToArray();
        var planeBytes = new LeBytes().U32(0).U32(100).U32(0xFFFFFFFF).PadTo(64).U32(0).U32(200).U32(0xFFFFFFFF).PadTo(128).ToArray();
        var uuids = new byte[32];
        for (var i = 0; i < 32; i++)
        {
            uuids[i] = (byte)(0xA0 + i);
        }
        var command = IoctlHeader(15).Raw(payload).Raw(planeBytes).Raw(uuids).ToArray();
        var device = DriverToDevice(driver, command, 40);
        Assert.AreEqual(2, device.UuidCount);
        var response = new LeBytes().U32(0).U32(0).Raw(payload).Raw(planeBytes).Raw(uuids).ToArray();
        DeviceToDriver(device, driver, response, 41);
    }

    [TestMethod]
    public void S_ext_ctrls_value_and_pointer_controls()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_S_EXT_CTRLS.Descriptor, Session);
        ref var controls = ref driver.PayloadAs<v4l2_ext_controls>();
        controls.which = 0x00990000;
        controls.count = 2;
        controls.controls = 0x6000_0000;
        driver.ElementCount = 2;
        var elements = driver.ElementsAs<v4l2_ext_control>();
        elements[0].id = 0x00980900; // V4L2_CID_BRIGHTNESS, a value control
        elements[0].value = 42;
        elements[1].id = 0x00A40A00; // a compound control
        elements[1].size = 24;
        elements[1].ptr = 0x6100_0000;
        driver.SgEntryCount = 2;
        driver.SgEntries[0] = new virtio_media_sg_entry { start = 0x4000, len = 16 };
        driver.SgEntries[1] = new virtio_media_sg_entry { start = 0x9000, len = 8 };

        // code 72; v4l2_ext_controls: which @0, count @4, error_idx @8, request_fd @12, reserved @16, controls @24 -> 32 bytes
        var payload = new LeBytes().U32(0x00990000).U32(2).U32(0).U32(0).U32(0).U32(0).U64(0x6000_0000).ToArray();
        // v4l2_ext_control (packed, 20 bytes): id @0, size @4, reserved2 @8, union value/ptr @12
        var ctrl = new LeBytes().U32(0x00980900).U32(0).U32(0).U64(42).U32(0x00A40A00).U32(24).U32(0).U64(0x6100_0000).ToArray();
        // One SG list, for the control with size 24: 16 + 8 bytes.
        var sg = new LeBytes().U64(0x4000).U32(16).U32(0).U64(0x9000).U32(8).U32(0).ToArray();
        var command = IoctlHeader(72).Raw(payload).Raw(ctrl).Raw(sg).ToArray();
        var device = DriverToDevice(driver, command, 50);
        Assert.AreEqual(2, device.SgListCount);
        Assert.AreEqual(0, device.SgList(0).Length);
        Assert.AreEqual(2, device.SgList(1).Length);

        var response = new LeBytes().U32(0).U32(0).Raw(payload).Raw(ctrl).ToArray();
        DeviceToDriver(device, driver, response, 51);
    }

    [TestMethod]
    public void Expbuf_uuid_follows_in_both_parts()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_EXPBUF.Descriptor, Session);
        ref var export = ref driver.PayloadAs<v4l2_exportbuffer>();
        (export.type, export.index, export.plane, export.fd) = (9, 2, 1, -1);
        driver.UuidCount = 1;
        // code 16; v4l2_exportbuffer: type @0, index @4, plane @8, flags @12, fd @16, reserved[11] -> 64; UUID (16 bytes, zero from the driver)
        var command = IoctlHeader(16).U32(9).U32(2).U32(1).U32(0).U32(0xFFFFFFFF).PadTo(16 + 64).Zeros(16).ToArray();
        var device = DriverToDevice(driver, command, 60);
        for (var i = 0; i < 16; i++)
        {
            device.Uuids[i] = (byte)(i + 1);
        }
        var response = new LeBytes().U32(0).U32(0).U32(9).U32(2).U32(1).U32(0).U32(0xFFFFFFFF).PadTo(8 + 64)
            .Raw(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16).ToArray();
        DeviceToDriver(device, driver, response, 61);
        Assert.AreEqual(16, driver.Uuids[15]);
    }
}
