using System;
using System.Text;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Compliance.Running;
using static VirtioMedia.Abi.Constants;

namespace VirtioMedia.Compliance.Groups;

/// <summary>v4l2-compliance's "Required ioctls": QUERYCAP's rules, checked on the configuration space that replaces
/// it, and the ioctls virtio-media replaces answering ENOTTY.</summary>
internal static class RequiredTests
{
    private const string Group = "Required ioctls";
    private const string TestCap = "v4l2-compliance.cpp, testCap";

    private const uint VideoCaps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_VIDEO_OUTPUT_MPLANE
        | V4L2_CAP_VIDEO_M2M | V4L2_CAP_VIDEO_M2M_MPLANE | V4L2_CAP_VIDEO_OVERLAY | V4L2_CAP_VIDEO_OUTPUT_OVERLAY;
    private const uint InputCaps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_OVERLAY | V4L2_CAP_VBI_CAPTURE | V4L2_CAP_SLICED_VBI_CAPTURE
        | V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_HW_FREQ_SEEK | V4L2_CAP_TUNER | V4L2_CAP_SDR_CAPTURE | V4L2_CAP_META_CAPTURE;
    private const uint OutputCaps = V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_VIDEO_OUTPUT_MPLANE | V4L2_CAP_VIDEO_OUTPUT_OVERLAY | V4L2_CAP_VBI_OUTPUT
        | V4L2_CAP_SDR_OUTPUT | V4L2_CAP_SLICED_VBI_OUTPUT | V4L2_CAP_MODULATOR | V4L2_CAP_META_OUTPUT;
    private const uint OverlayCaps = V4L2_CAP_VIDEO_OVERLAY | V4L2_CAP_VIDEO_OUTPUT_OVERLAY;
    private const uint M2MCaps = V4L2_CAP_VIDEO_M2M | V4L2_CAP_VIDEO_M2M_MPLANE;
    private const uint MplaneCaps = V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_VIDEO_OUTPUT_MPLANE | V4L2_CAP_VIDEO_M2M_MPLANE;
    private const uint SplaneCaps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_VIDEO_M2M;
    private const uint IoCaps = V4L2_CAP_STREAMING | V4L2_CAP_READWRITE;

    public static readonly ComplianceTest[] All =
    [
        new(Group, "test VIDIOC_QUERYCAP", false, QueryCapAsync),
        new(Group, "test invalid ioctls", false, InvalidIoctlsAsync),
    ];

    private static async Task QueryCapAsync(ComplianceContext context)
    {
        var config = context.Driver.Config;
        var dcaps = config.device_caps;
        ReadOnlySpan<byte> card = config.card;
        var end = card.IndexOf((byte)0);
        var name = end < 0 ? card : card[..end];
        // The Linux driver copies the 32 bytes into QUERYCAP's card as they are (virtio_media_ioctls.c,
        // virtio_cread_bytes), so the configuration's card must carry its NUL; driver and bus_info are the driver's
        // own strings (strscpy), which no device can leave unterminated.
        Probes.CheckString(context, card, "card", TestCap);
        context.Check(IsUtf8(name), "card must be a UTF-8 string", "spec: Device Configuration Layout, card");
        context.Check(config.device_type == 0, $"device_type {config.device_type} is not VFL_TYPE_VIDEO (0), the only type this suite and v4l2-compliance's video tests cover", "spec: Device Configuration Layout, device_type");
        context.Check(dcaps != 0, "device_caps must not be 0", TestCap);
        context.Check((dcaps & V4L2_CAP_DEVICE_CAPS) == 0, "device_caps must not contain V4L2_CAP_DEVICE_CAPS", TestCap);
        context.Check((dcaps & V4L2_CAP_ASYNCIO) == 0, "V4L2_CAP_ASYNCIO is not allowed", TestCap);
        context.Check((dcaps & VideoCaps) != 0, "a video node needs one of the video capabilities", TestCap);
        context.Check((dcaps & (V4L2_CAP_RADIO | V4L2_CAP_MODULATOR | V4L2_CAP_SDR_CAPTURE | V4L2_CAP_SDR_OUTPUT | V4L2_CAP_VBI_CAPTURE | V4L2_CAP_VBI_OUTPUT | V4L2_CAP_SLICED_VBI_CAPTURE | V4L2_CAP_SLICED_VBI_OUTPUT)) == 0,
            "a video node may not claim radio, SDR or VBI capabilities", TestCap);
        context.Check((dcaps & OverlayCaps) != OverlayCaps, "VIDEO_OVERLAY and VIDEO_OUTPUT_OVERLAY together are not allowed", TestCap);
        context.Check((dcaps & M2MCaps) == 0 || (dcaps & OverlayCaps) == 0, "overlay makes no sense on an m2m node", TestCap);
        if ((dcaps & M2MCaps) != 0)
        {
            context.Check((dcaps & InputCaps) == 0 || (dcaps & OutputCaps) == 0, "an m2m node may not also claim capture and output capabilities", TestCap);
        }
        else
        {
            context.Check((dcaps & InputCaps) == 0 || (dcaps & OutputCaps) == 0, "a node may not claim both input (capture) and output capabilities", TestCap);
        }
        if (context.Node.CanCapture || context.Node.CanOutput || context.Node.IsM2M)
        {
            context.Check((dcaps & IoCaps) != 0, "a capture or output node needs V4L2_CAP_STREAMING or V4L2_CAP_READWRITE", TestCap);
        }
        else
        {
            context.Check((dcaps & IoCaps) == 0, "a node that neither captures nor outputs may not claim I/O capabilities", TestCap);
        }
        context.Check((dcaps & MplaneCaps) == 0 || (dcaps & SplaneCaps) == 0, "single- and multi-planar capabilities on one node are not allowed", TestCap);
        context.Check((dcaps & V4L2_CAP_READWRITE) == 0, "virtio-media has no read()/write() path, so V4L2_CAP_READWRITE cannot be honoured", "spec: Device Operation (OPEN, CLOSE, IOCTL, MMAP, MUNMAP; no read/write) and the Linux driver's virtio_media_fops, which have no .read/.write");

        // QUERYCAP itself is replaced by the configuration space: the device answers it ENOTTY.
        var session = await context.OpenAsync().ConfigureAwait(false);
        var answer = await session.VIDIOC_QUERYCAP(default, null, context.Token).ConfigureAwait(false);
        context.Expect(answer.Status, ENOTTY, "VIDIOC_QUERYCAP (replaced by the configuration space)", "spec: Unsupported ioctls");
    }

    private static async Task InvalidIoctlsAsync(ComplianceContext context)
    {
        var session = await context.OpenAsync().ConfigureAwait(false);
        // The ioctls the specification replaces by other mechanisms (v4l2-compliance, testInvalidIoctls, expects ENOTTY
        // for what a node does not implement).
        context.Expect((await session.VIDIOC_DQBUF(new v4l2_buffer { type = context.Node.BufferType }, null, context.Token).ConfigureAwait(false)).Status, ENOTTY,
            "VIDIOC_DQBUF (replaced by the DQBUF event)", "spec: Unsupported ioctls");
        context.Expect((await session.VIDIOC_DQEVENT(default, null, context.Token).ConfigureAwait(false)).Status, ENOTTY,
            "VIDIOC_DQEVENT (replaced by the EVENT event)", "spec: Unsupported ioctls");
        context.Expect((await session.VIDIOC_G_JPEGCOMP(default, null, context.Token).ConfigureAwait(false)).Status, ENOTTY,
            "VIDIOC_G_JPEGCOMP (deprecated, replaced by the JPEG controls)", "spec: Unsupported ioctls");
        context.Expect((await session.VIDIOC_S_JPEGCOMP(default, null, context.Token).ConfigureAwait(false)).Status, ENOTTY,
            "VIDIOC_S_JPEGCOMP (deprecated, replaced by the JPEG controls)", "spec: Unsupported ioctls");
        context.Expect(await session.VIDIOC_LOG_STATUS(null, context.Token).ConfigureAwait(false), ENOTTY,
            "VIDIOC_LOG_STATUS (a driver-only operation)", "spec: Unsupported ioctls");
    }

    private static bool IsUtf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            _ = new UTF8Encoding(false, true).GetString(bytes);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
