using System;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Tests.Wire;

/// <summary>
/// Golden bytes, written out from the spec and the V4L2 UAPI, for the setup ioctls of a stream: S_FMT with a
/// multi-planar format, REQBUFS, SUBSCRIBE_EVENT and STREAMON, in both roles. Command: virtio_media_cmd_ioctl
/// { hdr { le32 cmd = VIRTIO_MEDIA_CMD_IOCTL (3); le32 reserved } le32 session_id; le32 code = _IOC_NR }, then
/// the payload when the ioctl is _IOW or _IOWR; response: virtio_media_resp_header { le32 status; le32 reserved },
/// then the payload when the ioctl is _IOR or _IOWR.
/// </summary>
[TestClass]
public sealed class IoctlSetupGoldenTests
{
    private const uint Session = 7;

    private static LeBytes IoctlHeader(uint code) => new LeBytes().U32(3).U32(0).U32(Session).U32(code);

    private static IoctlMessage DriverToDevice(IoctlMessage driver, byte[] expected, int seed)
    {
        var encoded = Chains.Write((ref ChainWriter w) => IoctlCodec.EncodeRequest(driver, ref w), random: new Random(seed));
        Assert.IsTrue(encoded.Result.IsSuccess, encoded.Result.ToString());
        CollectionAssert.AreEqual(expected, encoded.Bytes);
        var device = new IoctlMessage();
        var decoded = Chains.Read(expected, (ref ChainReader r) => IoctlCodec.DecodeRequest(ref r, device), new Random(seed + 1));
        Assert.IsTrue(decoded.Result.IsSuccess, decoded.Result.ToString());
        Assert.AreEqual(0L, decoded.Remaining);
        Assert.AreEqual(Session, device.SessionId);
        return device;
    }

    private static void DeviceToDriver(IoctlMessage device, IoctlMessage driver, byte[] expected, int seed)
    {
        var encoded = Chains.Write((ref ChainWriter w) => IoctlCodec.EncodeResponse(device, 0, true, ref w), random: new Random(seed));
        Assert.IsTrue(encoded.Result.IsSuccess, encoded.Result.ToString());
        CollectionAssert.AreEqual(expected, encoded.Bytes);
        var status = -1;
        var decoded = Chains.Read(expected, (ref ChainReader r) => IoctlCodec.DecodeResponse(ref r, driver, out status), new Random(seed + 1));
        Assert.IsTrue(decoded.Result.IsSuccess, decoded.Result.ToString());
        Assert.AreEqual(0L, decoded.Remaining);
        Assert.AreEqual(0, status);
    }

    [TestMethod]
    public void S_fmt_multi_planar_payload_in_both_parts()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_S_FMT.Descriptor, Session);
        ref var format = ref driver.PayloadAs<v4l2_format>();
        format.type = 10; // V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE
        format.fmt.pix_mp.width = 1920;
        format.fmt.pix_mp.height = 1080;
        format.fmt.pix_mp.pixelformat = 0x3231564E; // 'NV12'
        format.fmt.pix_mp.num_planes = 2;
        // code 5 (_IOWR('V', 5, struct v4l2_format)); v4l2_format (208 bytes): le32 type @0, 4 bytes padding
        // (the union holds pointers), fmt.pix_mp @8 (packed, 192 bytes): width @8, height @12, pixelformat @16,
        // field @20, colorspace @24, plane_fmt[8] @28 (20 bytes each: sizeimage, bytesperline, reserved[6]),
        // num_planes (u8) @188, flags @189, ycbcr_enc @190, quantization @191, xfer_func @192, reserved[7].
        var request = new LeBytes().U32(10).U32(0).U32(1920).U32(1080).U32(0x3231564E).PadTo(188).Raw(2).PadTo(208).ToArray();
        var command = IoctlHeader(5).Raw(request).ToArray();
        Assert.AreEqual(16 + 208, command.Length);
        var device = DriverToDevice(driver, command, 100);
        Assert.AreEqual(2, device.PayloadAs<v4l2_format>().fmt.pix_mp.num_planes);

        // The device settles the format: field NONE (1), two planes with their sizes and strides.
        ref var settled = ref device.PayloadAs<v4l2_format>();
        settled.fmt.pix_mp.field = 1;
        settled.fmt.pix_mp.plane_fmt[0].sizeimage = 1920 * 1080;
        settled.fmt.pix_mp.plane_fmt[0].bytesperline = 1920;
        settled.fmt.pix_mp.plane_fmt[1].sizeimage = 1920 * 1080 / 2;
        settled.fmt.pix_mp.plane_fmt[1].bytesperline = 1920;
        var answer = new LeBytes().U32(10).U32(0).U32(1920).U32(1080).U32(0x3231564E).U32(1).U32(0)
            .U32(1920 * 1080).U32(1920).Zeros(12)       // plane_fmt[0] @28
            .U32(1920 * 1080 / 2).U32(1920).Zeros(12)   // plane_fmt[1] @48
            .PadTo(188).Raw(2).PadTo(208).ToArray();
        var response = new LeBytes().U32(0).U32(0).Raw(answer).ToArray();
        DeviceToDriver(device, driver, response, 101);
        Assert.AreEqual(1920u * 1080 / 2, driver.PayloadAs<v4l2_format>().fmt.pix_mp.plane_fmt[1].sizeimage);
    }

    [TestMethod]
    public void Reqbufs_payload_in_both_parts()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_REQBUFS.Descriptor, Session);
        ref var request = ref driver.PayloadAs<v4l2_requestbuffers>();
        (request.count, request.type, request.memory) = (4, 9, 2); // CAPTURE_MPLANE, USERPTR
        // code 8 (_IOWR('V', 8, struct v4l2_requestbuffers)); count @0, type @4, memory @8, capabilities @12,
        // flags (u8) @16, reserved[3] @17 -> 20 bytes. No trailer: REQBUFS carries no pointer.
        var command = IoctlHeader(8).U32(4).U32(9).U32(2).U32(0).U32(0).ToArray();
        Assert.AreEqual(16 + 20, command.Length);
        var device = DriverToDevice(driver, command, 110);
        Assert.AreEqual(0, device.ElementCount + device.SgEntryCount + device.UuidCount);

        // The device grants 3 buffers and reports V4L2_BUF_CAP_SUPPORTS_MMAP | USERPTR (0x3).
        device.PayloadAs<v4l2_requestbuffers>().count = 3;
        device.PayloadAs<v4l2_requestbuffers>().capabilities = 0x3;
        var response = new LeBytes().U32(0).U32(0).U32(3).U32(9).U32(2).U32(0x3).U32(0).ToArray();
        DeviceToDriver(device, driver, response, 111);
        Assert.AreEqual(3u, driver.PayloadAs<v4l2_requestbuffers>().count);
    }

    [TestMethod]
    public void Subscribe_event_payload_only_in_the_device_readable_part()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_SUBSCRIBE_EVENT.Descriptor, Session);
        ref var subscription = ref driver.PayloadAs<v4l2_event_subscription>();
        (subscription.type, subscription.id, subscription.flags) = (5, 0, 1); // V4L2_EVENT_SOURCE_CHANGE, SEND_INITIAL
        // code 90 (_IOW('V', 90, struct v4l2_event_subscription)); type @0, id @4, flags @8, reserved[5] @12 -> 32 bytes
        var command = IoctlHeader(90).U32(5).U32(0).U32(1).Zeros(20).ToArray();
        Assert.AreEqual(16 + 32, command.Length);
        var device = DriverToDevice(driver, command, 120);
        Assert.AreEqual(5u, device.PayloadAs<v4l2_event_subscription>().type);

        // _IOW: the device-writable part is the response header alone.
        var response = new LeBytes().U32(0).U32(0).ToArray();
        DeviceToDriver(device, driver, response, 121);
        Assert.AreEqual(1u, driver.PayloadAs<v4l2_event_subscription>().flags);
    }

    [TestMethod]
    public void Streamon_int_payload_only_in_the_device_readable_part()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_STREAMON.Descriptor, Session);
        driver.PayloadAs<int>() = 10; // V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE
        // code 18 (_IOW('V', 18, int)); the payload is one le32
        var command = IoctlHeader(18).U32(10).ToArray();
        Assert.AreEqual(20, command.Length);
        var device = DriverToDevice(driver, command, 130);
        Assert.AreEqual(10, device.PayloadAs<int>());

        var response = new LeBytes().U32(0).U32(0).ToArray();
        DeviceToDriver(device, driver, response, 131);
    }
}
