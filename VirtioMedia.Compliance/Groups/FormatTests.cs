using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Compliance.Running;
using VirtioMedia.Runtime.Driver;
using static VirtioMedia.Abi.Constants;

namespace VirtioMedia.Compliance.Groups;

/// <summary>v4l2-compliance's "Format ioctls" (v4l2-test-formats.cpp).</summary>
internal static class FormatTests
{
    private const string Group = "Format ioctls";
    private const string Source = "v4l2-test-formats.cpp";
    private const uint ValidFormatFlags = V4L2_FMT_FLAG_COMPRESSED | V4L2_FMT_FLAG_EMULATED | V4L2_FMT_FLAG_CONTINUOUS_BYTESTREAM
        | V4L2_FMT_FLAG_DYN_RESOLUTION | V4L2_FMT_FLAG_ENC_CAP_FRAME_INTERVAL | V4L2_FMT_FLAG_CSC_COLORSPACE | V4L2_FMT_FLAG_CSC_XFER_FUNC
        | V4L2_FMT_FLAG_CSC_YCBCR_ENC | V4L2_FMT_FLAG_CSC_QUANTIZATION;

    public static readonly ComplianceTest[] All =
    [
        new(Group, "test VIDIOC_ENUM_FMT/FRAMESIZES/FRAMEINTERVALS", false, EnumFormatsAsync),
        new(Group, "test VIDIOC_G/S_PARM", false, ParmAsync),
        new(Group, "test VIDIOC_G_FBUF", false, FrameBufferAsync),
        new(Group, "test VIDIOC_G_FMT", false, GetFormatAsync),
        new(Group, "test VIDIOC_TRY_FMT", false, TryFormatAsync),
        new(Group, "test VIDIOC_S_FMT", false, SetFormatAsync),
        new(Group, "test VIDIOC_G_SLICED_VBI_CAP", false, SlicedVbiAsync),
        new(Group, "test Cropping", false, c => SelectionAsync(c, V4L2_SEL_TGT_CROP, V4L2_SEL_TGT_CROP_BOUNDS, "testCropping")),
        new(Group, "test Composing", false, c => SelectionAsync(c, V4L2_SEL_TGT_COMPOSE, V4L2_SEL_TGT_COMPOSE_BOUNDS, "testComposing")),
        new(Group, "test Scaling", false, ScalingAsync),
    ];

    private static async Task EnumFormatsAsync(ComplianceContext context)
    {
        const string source = Source + ", testEnumFormats";
        var session = await context.OpenAsync().ConfigureAwait(false);
        foreach (var type in ComplianceNode.VideoBufferTypes)
        {
            var first = await session.VIDIOC_ENUM_FMT(new v4l2_fmtdesc { type = type }, null, context.Token).ConfigureAwait(false);
            if (!context.Node.Offers(type))
            {
                context.Check(first.Status is EINVAL or ENOTTY, $"VIDIOC_ENUM_FMT of buffer type {type}, which the node does not offer, answered {ErrnoNames.Of(first.Status)}", source);
                continue;
            }
            var seen = new HashSet<uint>();
            uint index = 0;
            for (; index < Probes.EnumerationLimit; index++)
            {
                var answer = await session.VIDIOC_ENUM_FMT(new v4l2_fmtdesc { type = type, index = index }, null, context.Token).ConfigureAwait(false);
                if (answer.Status != 0)
                {
                    context.Expect(answer.Status, EINVAL, $"VIDIOC_ENUM_FMT past the last format (index {index})", source);
                    break;
                }
                var format = answer.Payload;
                var name = $"format {index} ({FourCc(format.pixelformat)})";
                context.Check(format.index == index && format.type == type, $"VIDIOC_ENUM_FMT changed the index or type of {name}", source);
                Probes.CheckString(context, format.description, name + " description", source);
                context.Check(format.pixelformat != 0, $"{name}: pixelformat 0", source);
                context.Check(seen.Add(format.pixelformat), $"{name} is listed twice", source + " (duplicate format)");
                context.Check((format.flags & ~ValidFormatFlags) == 0, $"{name} has unknown flags 0x{format.flags & ~ValidFormatFlags:x}", source);
                Probes.CheckZero(context, Probes.Bytes(ref format.reserved), name + " reserved", source);
                await FrameSizesAsync(context, session, format.pixelformat, name).ConfigureAwait(false);
            }
            context.Check(index < Probes.EnumerationLimit, "VIDIOC_ENUM_FMT never ends with EINVAL", source);
            context.Check(index > 0, $"the node offers buffer type {type} but lists no format", source);
            context.Note($"{index} formats of buffer type {type}");
        }
        var unknown = await session.VIDIOC_ENUM_FRAMESIZES(new v4l2_frmsizeenum { pixel_format = 0x20202020 }, null, context.Token).ConfigureAwait(false);
        context.Check(unknown.Status is EINVAL or ENOTTY, "VIDIOC_ENUM_FRAMESIZES of an unknown pixel format must answer EINVAL", Source + ", testEnumFrameSizes");
    }

    private static async Task FrameSizesAsync(ComplianceContext context, DriverSession session, uint pixelformat, string name)
    {
        const string source = Source + ", testEnumFrameSizes";
        for (uint index = 0; index < Probes.EnumerationLimit; index++)
        {
            var answer = await session.VIDIOC_ENUM_FRAMESIZES(new v4l2_frmsizeenum { pixel_format = pixelformat, index = index }, null, context.Token).ConfigureAwait(false);
            if (answer.Status == ENOTTY && index == 0)
            {
                return;
            }
            if (answer.Status != 0)
            {
                context.Expect(answer.Status, EINVAL, $"VIDIOC_ENUM_FRAMESIZES of {name} past the last size", source);
                context.Check(index > 0, $"VIDIOC_ENUM_FRAMESIZES of {name} lists no size", source);
                return;
            }
            var size = answer.Payload;
            context.Check(size.index == index && size.pixel_format == pixelformat, $"VIDIOC_ENUM_FRAMESIZES of {name} changed the index or pixel format", source);
            Probes.CheckZero(context, Probes.Bytes(ref size.reserved), $"{name} frame size reserved", source);
            switch (size.type)
            {
                case V4L2_FRMSIZE_TYPE_DISCRETE:
                    context.Check(size.discrete.width > 0 && size.discrete.height > 0, $"{name}: a discrete frame size of 0", source);
                    await FrameIntervalsAsync(context, session, pixelformat, size.discrete.width, size.discrete.height, name).ConfigureAwait(false);
                    break;
                case V4L2_FRMSIZE_TYPE_STEPWISE:
                case V4L2_FRMSIZE_TYPE_CONTINUOUS:
                    context.Check(index == 0, $"{name}: a stepwise or continuous frame size must be the only one (index 0)", source);
                    var w = size.stepwise;
                    context.Check(w.min_width > 0 && w.min_height > 0 && w.min_width <= w.max_width && w.min_height <= w.max_height && w.step_width > 0 && w.step_height > 0,
                        $"{name}: an invalid stepwise range", source);
                    context.Check(size.type != V4L2_FRMSIZE_TYPE_CONTINUOUS || (w.step_width == 1 && w.step_height == 1), $"{name}: a continuous range needs step 1", source);
                    var next = await session.VIDIOC_ENUM_FRAMESIZES(new v4l2_frmsizeenum { pixel_format = pixelformat, index = 1 }, null, context.Token).ConfigureAwait(false);
                    context.Expect(next.Status, EINVAL, $"VIDIOC_ENUM_FRAMESIZES of {name} index 1 after a stepwise range", source);
                    return;
                default:
                    throw new ComplianceFailure($"{name}: frame size type {size.type} is invalid [{source}]");
            }
        }
        throw new ComplianceFailure($"VIDIOC_ENUM_FRAMESIZES of {name} never ends with EINVAL [{source}]");
    }

    private static async Task FrameIntervalsAsync(ComplianceContext context, DriverSession session, uint pixelformat, uint width, uint height, string name)
    {
        const string source = Source + ", testEnumFrameIntervals";
        uint index = 0;
        for (; index < Probes.EnumerationLimit; index++)
        {
            var answer = await session.VIDIOC_ENUM_FRAMEINTERVALS(new v4l2_frmivalenum { pixel_format = pixelformat, width = width, height = height, index = index }, null, context.Token).ConfigureAwait(false);
            if (answer.Status == ENOTTY && index == 0)
            {
                return;
            }
            if (answer.Status != 0)
            {
                context.Expect(answer.Status, EINVAL, $"VIDIOC_ENUM_FRAMEINTERVALS of {name} {width}x{height} past the last interval", source);
                break;
            }
            var interval = answer.Payload;
            context.Check(interval.index == index && interval.pixel_format == pixelformat && interval.width == width && interval.height == height,
                $"VIDIOC_ENUM_FRAMEINTERVALS of {name} {width}x{height} changed its input fields", source);
            Probes.CheckZero(context, Probes.Bytes(ref interval.reserved), $"{name} frame interval reserved", source);
            if (interval.type == V4L2_FRMIVAL_TYPE_DISCRETE)
            {
                context.Check(interval.discrete.numerator > 0 && interval.discrete.denominator > 0, $"{name} {width}x{height}: a discrete interval with a zero term", source);
            }
            else
            {
                context.Check(interval.type is V4L2_FRMIVAL_TYPE_STEPWISE or V4L2_FRMIVAL_TYPE_CONTINUOUS, $"{name}: frame interval type {interval.type} is invalid", source);
                context.Check(index == 0, $"{name}: a stepwise interval must be the only one", source);
                break;
            }
        }
        context.Check(index < Probes.EnumerationLimit, $"VIDIOC_ENUM_FRAMEINTERVALS of {name} never ends with EINVAL", source);
        // A size the node does not list has no intervals (testEnumFrameSizes asks width + 1).
        var odd = await session.VIDIOC_ENUM_FRAMEINTERVALS(new v4l2_frmivalenum { pixel_format = pixelformat, width = width + 1, height = height }, null, context.Token).ConfigureAwait(false);
        context.Check(odd.Status is EINVAL or ENOTTY || index == 0, $"VIDIOC_ENUM_FRAMEINTERVALS of {name} at {width + 1}x{height}, a size not listed, answered {ErrnoNames.Of(odd.Status)}", Source + ", testEnumFrameSizes");
    }

    private static async Task ParmAsync(ComplianceContext context)
    {
        const string source = Source + ", testParm";
        const string typeSource = Source + ", testParmType";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var type = context.Node.BufferType;
        // has_frmintervals: a node that lists frame intervals must let them be read and set through G/S_PARM.
        var hasIntervals = await ListsFrameIntervalsAsync(context, session).ConfigureAwait(false);
        var got = await session.VIDIOC_G_PARM(new v4l2_streamparm { type = type }, null, context.Token).ConfigureAwait(false);
        if (got.Status != 0)
        {
            context.Check(!hasIntervals, $"VIDIOC_G_PARM answered {ErrnoNames.Of(got.Status)} although VIDIOC_ENUM_FRAMEINTERVALS lists intervals", typeSource + " (ret && has_frmintervals)");
            if (got.Status == ENOTTY)
            {
                var set = await session.VIDIOC_S_PARM(new v4l2_streamparm { type = type }, null, context.Token).ConfigureAwait(false);
                context.Expect(set.Status, ENOTTY, "VIDIOC_S_PARM of a node whose VIDIOC_G_PARM answers ENOTTY", typeSource);
            }
            // EINVAL: the node has no parameters for its buffer type, which testParmType reports as not supported.
            context.Check(got.Status is ENOTTY or EINVAL, $"VIDIOC_G_PARM answered {ErrnoNames.Of(got.Status)}, expected success, EINVAL or ENOTTY", typeSource);
            throw ComplianceContext.NotSupported($"VIDIOC_G_PARM answers {ErrnoNames.Of(got.Status)}");
        }
        context.Check(got.Payload.type == type, "VIDIOC_G_PARM changed the type", source);
        var parm = got.Payload;
        CheckParm(context, parm, "VIDIOC_G_PARM", hasIntervals);

        // S_PARM: ENOTTY is accepted when the node lists no frame intervals (an output without frame rate control,
        // such as vivid's, whose vidioc_s_parm serves capture nodes only); any other error fails.
        var answer = await session.VIDIOC_S_PARM(parm, null, context.Token).ConfigureAwait(false);
        context.Check(answer.Status == 0 || !hasIntervals, $"VIDIOC_S_PARM(G_PARM) answered {ErrnoNames.Of(answer.Status)} although VIDIOC_ENUM_FRAMEINTERVALS lists intervals", typeSource + " (ret && has_frmintervals)");
        if (answer.Status != ENOTTY)
        {
            context.Expect(answer.Status, 0, "VIDIOC_S_PARM(G_PARM)", typeSource);
            context.Check(answer.Payload.type == type, "VIDIOC_S_PARM changed the type", typeSource);
            CheckParm(context, answer.Payload, "VIDIOC_S_PARM", hasIntervals);
            if ((answer.Payload.parm.capture.capability & V4L2_CAP_TIMEPERFRAME) == 0)
            {
                context.Warn("S_PARM is supported but doesn't report V4L2_CAP_TIMEPERFRAME");
            }
            else if (!hasIntervals)
            {
                context.Warn($"S_PARM is supported for buftype {type}, but not for ENUM_FRAMEINTERVALS");
            }
            // A timeperframe with a zero term is no error: the device picks an interval of its own.
            foreach (var (numerator, denominator) in new[] { (0u, 1u), (1u, 0u) })
            {
                var zero = answer.Payload;
                zero.parm.capture.timeperframe.numerator = numerator;
                zero.parm.capture.timeperframe.denominator = denominator;
                var corrected = await session.VIDIOC_S_PARM(zero, null, context.Token).ConfigureAwait(false);
                context.Expect(corrected.Status, 0, $"VIDIOC_S_PARM with timeperframe {numerator}/{denominator}", typeSource);
                CheckParm(context, corrected.Payload, $"VIDIOC_S_PARM with timeperframe {numerator}/{denominator}", hasIntervals);
            }
            await session.VIDIOC_S_PARM(parm, null, context.Token).ConfigureAwait(false);
        }
        foreach (var other in ComplianceNode.VideoBufferTypes.Where(t => !context.Node.Offers(t) && t != V4L2_BUF_TYPE_VIDEO_OVERLAY))
        {
            var wrong = await session.VIDIOC_G_PARM(new v4l2_streamparm { type = other }, null, context.Token).ConfigureAwait(false);
            context.Check(wrong.Status is EINVAL or ENOTTY, $"VIDIOC_G_PARM of buffer type {other}, which the node lacks, answered {ErrnoNames.Of(wrong.Status)}", source);
        }
    }

    /// <summary>testParmStruct on an answer of G_PARM or S_PARM (capture and output parameters share their layout:
    /// capability, mode, timeperframe, extendedmode, buffers, reserved).</summary>
    private static void CheckParm(ComplianceContext context, v4l2_streamparm parm, string call, bool hasIntervals)
    {
        const string source = Source + ", testParmStruct";
        var capture = parm.parm.capture;
        context.Check((capture.capability & ~V4L2_CAP_TIMEPERFRAME) == 0, $"{call}: unknown capability bits 0x{capture.capability:x}", source);
        context.Check((capture.capturemode & ~V4L2_MODE_HIGHQUALITY) == 0, $"{call}: unknown mode bits", source);
        context.Check(capture.extendedmode == 0, $"{call}: extendedmode is {capture.extendedmode}, not 0", source);
        context.Check(capture.readbuffers == 0 || (context.Node.DeviceCaps & V4L2_CAP_READWRITE) != 0, $"{call}: readbuffers/writebuffers set without V4L2_CAP_READWRITE", source);
        Probes.CheckZero(context, Probes.Bytes(ref capture.reserved), $"{call}: v4l2_captureparm.reserved", source);
        // A node that lists frame intervals lets them be set: it must answer V4L2_CAP_TIMEPERFRAME.
        context.Check((capture.capability & V4L2_CAP_TIMEPERFRAME) != 0 || !hasIntervals,
            $"VIDIOC_ENUM_FRAMEINTERVALS lists intervals but {call} answers no V4L2_CAP_TIMEPERFRAME", source + " (has_frmintervals && !capability)");
        context.Check((capture.capability & V4L2_CAP_TIMEPERFRAME) == 0 || (capture.timeperframe.numerator > 0 && capture.timeperframe.denominator > 0),
            $"{call}: V4L2_CAP_TIMEPERFRAME with a zero timeperframe term", source);
    }

    /// <summary>Whether ENUM_FRAMEINTERVALS answers an interval for a size of a format the node lists
    /// (v4l2-compliance's has_frmintervals, set by testEnumFrameIntervals).</summary>
    private static async Task<bool> ListsFrameIntervalsAsync(ComplianceContext context, DriverSession session)
    {
        foreach (var format in await Probes.FormatsAsync(session, context.Node.BufferType, context.Token).ConfigureAwait(false))
        {
            for (uint index = 0; index < Probes.EnumerationLimit; index++)
            {
                var size = await session.VIDIOC_ENUM_FRAMESIZES(new v4l2_frmsizeenum { pixel_format = format.pixelformat, index = index }, null, context.Token).ConfigureAwait(false);
                if (size.Status != 0)
                {
                    break;
                }
                var (width, height) = size.Payload.type == V4L2_FRMSIZE_TYPE_DISCRETE
                    ? (size.Payload.discrete.width, size.Payload.discrete.height)
                    : (size.Payload.stepwise.min_width, size.Payload.stepwise.min_height);
                var interval = await session.VIDIOC_ENUM_FRAMEINTERVALS(new v4l2_frmivalenum { pixel_format = format.pixelformat, width = width, height = height }, null, context.Token).ConfigureAwait(false);
                if (interval.Status == 0)
                {
                    return true;
                }
                if (size.Payload.type != V4L2_FRMSIZE_TYPE_DISCRETE)
                {
                    break;
                }
            }
        }
        return false;
    }

    private static async Task FrameBufferAsync(ComplianceContext context)
    {
        var session = await context.OpenAsync().ConfigureAwait(false);
        var answer = await session.VIDIOC_G_FBUF(default, null, context.Token).ConfigureAwait(false);
        if (answer.Status is ENOTTY or EINVAL)
        {
            context.Check((context.Node.DeviceCaps & (V4L2_CAP_VIDEO_OVERLAY | V4L2_CAP_VIDEO_OUTPUT_OVERLAY)) == 0, "an overlay node must answer VIDIOC_G_FBUF", Source + ", testFBuf");
            throw ComplianceContext.NotSupported("no framebuffer overlay");
        }
        context.Expect(answer.Status, 0, "VIDIOC_G_FBUF", Source + ", testFBuf");
    }

    private static async Task SlicedVbiAsync(ComplianceContext context)
    {
        var session = await context.OpenAsync().ConfigureAwait(false);
        var answer = await session.VIDIOC_G_SLICED_VBI_CAP(new v4l2_sliced_vbi_cap { type = V4L2_BUF_TYPE_SLICED_VBI_CAPTURE }, null, context.Token).ConfigureAwait(false);
        context.Check(answer.Status is ENOTTY or EINVAL, "a video node answered VIDIOC_G_SLICED_VBI_CAP", Source + ", testSlicedVBICap");
        throw ComplianceContext.NotSupported("no sliced VBI");
    }

    /// <summary>The rules every G/TRY/S_FMT answer keeps (v4l2-test-formats.cpp, testFormatsType).</summary>
    internal static void CheckFormat(ComplianceContext context, in v4l2_format format, IReadOnlyCollection<uint> pixelformats, string call)
    {
        const string source = Source + ", testFormatsType";
        context.Check(format.type == context.Node.BufferType, $"{call} changed the buffer type", source);
        uint width, height, pixelformat, field, colorspace, ycbcr, quantization, xfer;
        if (Probes.IsMultiPlanar(format.type))
        {
            var mp = format.fmt.pix_mp;
            (width, height, pixelformat, field, colorspace, ycbcr, quantization, xfer) = (mp.width, mp.height, mp.pixelformat, mp.field, mp.colorspace, mp.ycbcr_enc, mp.quantization, mp.xfer_func);
            context.Check(mp.num_planes is >= 1 and <= VIDEO_MAX_PLANES, $"{call}: num_planes {mp.num_planes} outside 1..8", source);
            var minimum = MinimumPlaneSizes(mp.pixelformat, mp.width, mp.height, mp.num_planes);
            for (var plane = 0; plane < Math.Min((int)mp.num_planes, VIDEO_MAX_PLANES); plane++)
            {
                var planeFormat = mp.plane_fmt[plane];
                context.Check(planeFormat.sizeimage > 0, $"{call}: plane {plane} sizeimage is 0", source);
                if (minimum is not null && plane < minimum.Length)
                {
                    context.Check(planeFormat.sizeimage >= minimum[plane], $"{call}: plane {plane} sizeimage {planeFormat.sizeimage} is below the {minimum[plane]} bytes a {FourCc(pixelformat)} {width}x{height} plane needs", source);
                }
                Probes.CheckZero(context, Probes.Bytes(ref planeFormat.reserved), $"{call}: plane {plane} reserved", source);
            }
            // The planes' lines together hold at least the width (bytesperline 0, unknown, allowed).
            var lineBytes = 0ul;
            for (var plane = 0; plane < Math.Min((int)mp.num_planes, VIDEO_MAX_PLANES); plane++)
            {
                lineBytes += mp.plane_fmt[plane].bytesperline;
            }
            context.Check(lineBytes == 0 || lineBytes >= mp.width, $"{call}: the planes' bytesperline add up to {lineBytes}, below the width {mp.width}", source + " (tot_bytesperline < width)");
            var reserved = mp.reserved;
            Probes.CheckZero(context, Probes.Bytes(ref reserved), $"{call}: v4l2_pix_format_mplane.reserved", source);
        }
        else
        {
            var pix = format.fmt.pix;
            (width, height, pixelformat, field, colorspace, ycbcr, quantization, xfer) = (pix.width, pix.height, pix.pixelformat, pix.field, pix.colorspace, pix.ycbcr_enc, pix.quantization, pix.xfer_func);
            context.Check(pix.sizeimage > 0, $"{call}: sizeimage is 0", source);
            context.Check(pix.priv is 0 or V4L2_PIX_FMT_PRIV_MAGIC, $"{call}: priv is 0x{pix.priv:x8}, neither 0 nor V4L2_PIX_FMT_PRIV_MAGIC", source);
            var minimum = MinimumPlaneSizes(pix.pixelformat, pix.width, pix.height, 1);
            if (minimum is not null)
            {
                context.Check(pix.sizeimage >= minimum[0], $"{call}: sizeimage {pix.sizeimage} is below the {minimum[0]} bytes a {FourCc(pixelformat)} {width}x{height} frame needs", source);
            }
            if (pix.bytesperline > 0)
            {
                context.Check(pix.bytesperline >= pix.width, $"{call}: bytesperline {pix.bytesperline} is below the width {pix.width}", source + " (bytesperline < width)");
                context.Check((ulong)pix.bytesperline * pix.height <= pix.sizeimage || IsCompressed(pixelformat), $"{call}: sizeimage {pix.sizeimage} is below bytesperline x height", source);
            }
        }
        context.Check(width > 0 && height > 0, $"{call}: width or height is 0", source);
        context.Check(pixelformats.Contains(pixelformat), $"{call}: pixelformat {FourCc(pixelformat)} is not one ENUM_FMT lists", source);
        context.Check(field != V4L2_FIELD_ANY, $"{call}: field is V4L2_FIELD_ANY", source);
        context.Check(field <= V4L2_FIELD_INTERLACED_BT, $"{call}: field {field} is invalid", source);
        context.Check(colorspace is > 0 and <= V4L2_COLORSPACE_DCI_P3, $"{call}: colorspace {colorspace} is invalid", source + " (colorspace)");
        context.Check(ycbcr <= V4L2_YCBCR_ENC_SMPTE240M || ycbcr == V4L2_HSV_ENC_180 || ycbcr == V4L2_HSV_ENC_256, $"{call}: ycbcr_enc {ycbcr} is invalid", source + " (colorspace)");
        context.Check(quantization <= V4L2_QUANTIZATION_LIM_RANGE, $"{call}: quantization {quantization} is invalid", source + " (colorspace)");
        context.Check(xfer <= V4L2_XFER_FUNC_SMPTE2084, $"{call}: xfer_func {xfer} is invalid", source + " (colorspace)");
    }

    private static bool IsCompressed(uint pixelformat) => pixelformat is V4L2_PIX_FMT_MJPEG or V4L2_PIX_FMT_JPEG or V4L2_PIX_FMT_H264 or V4L2_PIX_FMT_HEVC or V4L2_PIX_FMT_VP8 or V4L2_PIX_FMT_VP9;

    /// <summary>The least bytes each memory plane of a well-known format needs, or null for a format this suite
    /// does not know (then only the bytesperline x height rule applies).</summary>
    internal static uint[]? MinimumPlaneSizes(uint pixelformat, uint width, uint height, uint planes)
    {
        var pixels = (ulong)width * height;
        ulong[]? sizes = pixelformat switch
        {
            V4L2_PIX_FMT_YUYV or V4L2_PIX_FMT_UYVY or V4L2_PIX_FMT_YVYU or V4L2_PIX_FMT_VYUY or V4L2_PIX_FMT_RGB565 => [pixels * 2],
            V4L2_PIX_FMT_RGB24 or V4L2_PIX_FMT_BGR24 => [pixels * 3],
            V4L2_PIX_FMT_XRGB32 or V4L2_PIX_FMT_ARGB32 or V4L2_PIX_FMT_XBGR32 or V4L2_PIX_FMT_ABGR32 or V4L2_PIX_FMT_RGB32 or V4L2_PIX_FMT_BGR32 => [pixels * 4],
            V4L2_PIX_FMT_GREY => [pixels],
            V4L2_PIX_FMT_NV12 or V4L2_PIX_FMT_NV21 or V4L2_PIX_FMT_YUV420 or V4L2_PIX_FMT_YVU420 => [pixels * 3 / 2],
            V4L2_PIX_FMT_NV12M or V4L2_PIX_FMT_NV21M => planes >= 2 ? [pixels, pixels / 2] : [pixels * 3 / 2],
            V4L2_PIX_FMT_NV16 or V4L2_PIX_FMT_NV61 or V4L2_PIX_FMT_YUV422P => [pixels * 2],
            _ => null,
        };
        return sizes?.Select(size => (uint)Math.Min(size, uint.MaxValue)).ToArray();
    }

    internal static string FourCc(uint pixelformat) =>
        new(new[] { (char)(pixelformat & 0xFF), (char)((pixelformat >> 8) & 0xFF), (char)((pixelformat >> 16) & 0xFF), (char)((pixelformat >> 24) & 0x7F) });

    private static async Task<(DriverSession Session, List<uint> Formats, v4l2_format Current)> PrepareAsync(ComplianceContext context)
    {
        var session = await context.OpenAsync().ConfigureAwait(false);
        var formats = (await Probes.FormatsAsync(session, context.Node.BufferType, context.Token).ConfigureAwait(false)).Select(f => f.pixelformat).ToList();
        var current = await Probes.CurrentFormatAsync(context, session).ConfigureAwait(false);
        return (session, formats, current);
    }

    private static async Task GetFormatAsync(ComplianceContext context)
    {
        const string source = Source + ", testGetFormats";
        var (session, formats, current) = await PrepareAsync(context).ConfigureAwait(false);
        CheckFormat(context, current, formats, "VIDIOC_G_FMT");
        foreach (var other in ComplianceNode.VideoBufferTypes.Where(t => !context.Node.Offers(t)))
        {
            var wrong = await session.VIDIOC_G_FMT(new v4l2_format { type = other }, null, context.Token).ConfigureAwait(false);
            context.Check(wrong.Status is EINVAL or ENOTTY, $"VIDIOC_G_FMT of buffer type {other}, which the node lacks, answered {ErrnoNames.Of(wrong.Status)}", source);
        }
    }

    private static void SetRequest(ref v4l2_format format, uint pixelformat, uint width, uint height, uint field)
    {
        if (Probes.IsMultiPlanar(format.type))
        {
            format.fmt.pix_mp.pixelformat = pixelformat;
            format.fmt.pix_mp.width = width;
            format.fmt.pix_mp.height = height;
            format.fmt.pix_mp.field = field;
        }
        else
        {
            format.fmt.pix.pixelformat = pixelformat;
            format.fmt.pix.width = width;
            format.fmt.pix.height = height;
            format.fmt.pix.field = field;
        }
    }

    internal static uint PixelFormat(in v4l2_format format) => Probes.IsMultiPlanar(format.type) ? format.fmt.pix_mp.pixelformat : format.fmt.pix.pixelformat;

    private static async Task TryFormatAsync(ComplianceContext context)
    {
        const string source = Source + ", testTryFormats";
        var (session, formats, current) = await PrepareAsync(context).ConfigureAwait(false);
        var tried = await session.VIDIOC_TRY_FMT(current, null, context.Token).ConfigureAwait(false);
        context.Expect(tried.Status, 0, "VIDIOC_TRY_FMT(G_FMT)", source);
        context.Check(Probes.Same(tried.Payload, current),
            "VIDIOC_TRY_FMT of the current format answers another format", source + ", matchFormats");
        foreach (var pixelformat in formats)
        {
            var request = new v4l2_format { type = context.Node.BufferType };
            SetRequest(ref request, pixelformat, 640, 480, V4L2_FIELD_ANY);
            var answer = await session.VIDIOC_TRY_FMT(request, null, context.Token).ConfigureAwait(false);
            context.Expect(answer.Status, 0, $"VIDIOC_TRY_FMT of {FourCc(pixelformat)}", source);
            CheckFormat(context, answer.Payload, formats, $"VIDIOC_TRY_FMT of {FourCc(pixelformat)}");
        }
        // Bad requests are corrected, never refused: an unknown pixel format, a zero size, a huge size.
        var odd = new v4l2_format { type = context.Node.BufferType };
        SetRequest(ref odd, 0x20202020, 0, 0, V4L2_FIELD_ANY);
        var corrected = await session.VIDIOC_TRY_FMT(odd, null, context.Token).ConfigureAwait(false);
        context.Expect(corrected.Status, 0, "VIDIOC_TRY_FMT of an unknown pixel format and size 0x0 (must be corrected, not refused)", source);
        CheckFormat(context, corrected.Payload, formats, "VIDIOC_TRY_FMT of an unknown pixel format");
        var huge = new v4l2_format { type = context.Node.BufferType };
        SetRequest(ref huge, formats.Count > 0 ? formats[0] : 0, 1u << 30, 1u << 30, V4L2_FIELD_NONE);
        var clamped = await session.VIDIOC_TRY_FMT(huge, null, context.Token).ConfigureAwait(false);
        context.Expect(clamped.Status, 0, "VIDIOC_TRY_FMT of a huge size (must be clamped)", source);
        CheckFormat(context, clamped.Payload, formats, "VIDIOC_TRY_FMT of a huge size");
        var after = await Probes.CurrentFormatAsync(context, session).ConfigureAwait(false);
        context.Check(Probes.Same(after, current), "VIDIOC_TRY_FMT changed the current format", source);
        var other = ComplianceNode.VideoBufferTypes.First(t => !context.Node.Offers(t) && t != V4L2_BUF_TYPE_VIDEO_OVERLAY);
        var wrong = await session.VIDIOC_TRY_FMT(new v4l2_format { type = other }, null, context.Token).ConfigureAwait(false);
        context.Check(wrong.Status is EINVAL or ENOTTY, $"VIDIOC_TRY_FMT of buffer type {other}, which the node lacks, answered {ErrnoNames.Of(wrong.Status)}", source);
    }

    private static async Task SetFormatAsync(ComplianceContext context)
    {
        const string source = Source + ", testSetFormats";
        var (session, formats, current) = await PrepareAsync(context).ConfigureAwait(false);
        foreach (var pixelformat in formats)
        {
            var request = new v4l2_format { type = context.Node.BufferType };
            SetRequest(ref request, pixelformat, 320, 240, V4L2_FIELD_ANY);
            var tried = await session.VIDIOC_TRY_FMT(request, null, context.Token).ConfigureAwait(false);
            var set = await session.VIDIOC_S_FMT(request, null, context.Token).ConfigureAwait(false);
            context.Expect(set.Status, 0, $"VIDIOC_S_FMT of {FourCc(pixelformat)}", source);
            CheckFormat(context, set.Payload, formats, $"VIDIOC_S_FMT of {FourCc(pixelformat)}");
            context.Check(Probes.Same(tried.Payload, set.Payload), $"VIDIOC_S_FMT and VIDIOC_TRY_FMT of {FourCc(pixelformat)} answer different formats", source);
            var now = await Probes.CurrentFormatAsync(context, session).ConfigureAwait(false);
            context.Check(Probes.Same(now, set.Payload), $"VIDIOC_G_FMT after VIDIOC_S_FMT of {FourCc(pixelformat)} answers another format", source);
        }
        var restored = await session.VIDIOC_S_FMT(current, null, context.Token).ConfigureAwait(false);
        context.Expect(restored.Status, 0, "VIDIOC_S_FMT(the initial format)", source);
        // The format cannot change under allocated buffers (videobuf2's vb2_is_busy; testReqBufs checks EBUSY).
        var memory = await Probes.MemoryTypesAsync(session, context.Node.BufferType, context.Token).ConfigureAwait(false);
        var type = memory.Mmap ? V4L2_MEMORY_MMAP : memory.UserPtr ? V4L2_MEMORY_USERPTR : 0u;
        if (type != 0)
        {
            var granted = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = context.Node.BufferType, memory = type, count = 1 }, null, context.Token).ConfigureAwait(false);
            context.Expect(granted.Status, 0, "VIDIOC_REQBUFS(1)", source);
            var other = formats.Count > 1 ? formats[1] : formats[0];
            var change = new v4l2_format { type = context.Node.BufferType };
            SetRequest(ref change, other, 160, 120, V4L2_FIELD_NONE);
            var before = await Probes.CurrentFormatAsync(context, session).ConfigureAwait(false);
            var busy = await session.VIDIOC_S_FMT(change, null, context.Token).ConfigureAwait(false);
            var after = await Probes.CurrentFormatAsync(context, session).ConfigureAwait(false);
            await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = context.Node.BufferType, memory = type, count = 0 }, null, context.Token).ConfigureAwait(false);
            // V4L2 lets a device refuse with EBUSY or keep the format; it may not change it under the buffers.
            context.Check(busy.Status == EBUSY || (busy.Status == 0 && Probes.Same(before, after)),
                $"VIDIOC_S_FMT while buffers are allocated answered {ErrnoNames.Of(busy.Status)} and {(Probes.Same(before, after) ? "kept" : "changed")} the format; expected EBUSY, or success keeping it",
                "V4L2 VIDIOC_S_FMT (EBUSY: buffers are allocated) / videobuf2 vb2_is_busy");
        }
    }

    private static async Task SelectionAsync(ComplianceContext context, uint target, uint bounds, string function)
    {
        var source = $"{Source}, {function}";
        var session = await context.OpenAsync().ConfigureAwait(false);
        // Selections name the single-planar type on multi-planar nodes too (testCropping/testComposing).
        var type = context.Node.IsMultiPlanar ? (context.Node.IsOutputType ? V4L2_BUF_TYPE_VIDEO_OUTPUT : V4L2_BUF_TYPE_VIDEO_CAPTURE) : context.Node.BufferType;
        var request = new v4l2_selection { type = type, target = target };
        ((Span<uint>)request.reserved).Fill(uint.MaxValue);
        var selection = await session.VIDIOC_G_SELECTION(request, null, context.Token).ConfigureAwait(false);
        if (selection.Status is ENOTTY or EINVAL or ENODATA)
        {
            // testBasicSelection: the target is not supported (ENODATA: not on the current input or output, such as
            // vivid's webcam input, which has no cropping); then S_SELECTION of it must fail too.
            var refused = await session.VIDIOC_S_SELECTION(new v4l2_selection { type = type, target = target }, null, context.Token).ConfigureAwait(false);
            context.Check(refused.Status != 0, $"VIDIOC_G_SELECTION of target {target} answered {ErrnoNames.Of(selection.Status)}, but VIDIOC_S_SELECTION of it succeeded", Source + ", testBasicSelection");
            throw ComplianceContext.NotSupported($"VIDIOC_G_SELECTION of target {target} answers {ErrnoNames.Of(selection.Status)}");
        }
        context.Expect(selection.Status, 0, "VIDIOC_G_SELECTION", Source + ", testBasicSelection");
        var current = selection.Payload;
        Probes.CheckZero(context, Probes.Bytes(ref current.reserved), "v4l2_selection.reserved", Source + ", testBasicSelection");
        var badType = await session.VIDIOC_G_SELECTION(new v4l2_selection { type = 0xFF, target = target }, null, context.Token).ConfigureAwait(false);
        context.Expect(badType.Status, EINVAL, "VIDIOC_G_SELECTION of buffer type 0xff", Source + ", testBasicSelection");
        var badTarget = await session.VIDIOC_G_SELECTION(new v4l2_selection { type = type, target = 0xFFFF }, null, context.Token).ConfigureAwait(false);
        context.Expect(badTarget.Status, EINVAL, "VIDIOC_G_SELECTION of target 0xffff", Source + ", testBasicSelection");

        // testBasicCrop / testBasicCompose: the default and bounds targets answer too; all three are non-empty, the
        // rectangle and the default lie within the bounds, and the default and bounds start at 0,0 on the side that
        // is the buffer (crop of an output, compose of a capture).
        var isCrop = target == V4L2_SEL_TGT_CROP;
        var basic = $"{Source}, {(isCrop ? "testBasicCrop" : "testBasicCompose")}";
        var defaultTarget = (uint)(isCrop ? V4L2_SEL_TGT_CROP_DEFAULT : V4L2_SEL_TGT_COMPOSE_DEFAULT);
        var fixedOrigin = isCrop ? type == V4L2_BUF_TYPE_VIDEO_OUTPUT : type == V4L2_BUF_TYPE_VIDEO_CAPTURE;
        var r = current.r;
        context.Check(r.width > 0 && r.height > 0, "the selection rectangle is empty", basic);
        var defaults = await session.VIDIOC_G_SELECTION(new v4l2_selection { type = type, target = defaultTarget }, null, context.Token).ConfigureAwait(false);
        context.Expect(defaults.Status, 0, "VIDIOC_G_SELECTION of the default target", basic);
        var limits = await session.VIDIOC_G_SELECTION(new v4l2_selection { type = type, target = bounds }, null, context.Token).ConfigureAwait(false);
        context.Expect(limits.Status, 0, "VIDIOC_G_SELECTION of the bounds target", basic);
        var d = defaults.Payload.r;
        var b = limits.Payload.r;
        context.Check(d.width > 0 && d.height > 0, "the default selection rectangle is empty", basic);
        context.Check(b.width > 0 && b.height > 0, "the bounds rectangle is empty", basic);
        context.Check(!fixedOrigin || (d.left == 0 && d.top == 0 && b.left == 0 && b.top == 0), "the default or bounds rectangle does not start at 0,0", basic);
        context.Check(Inside(r, b), "the selection rectangle lies outside its bounds", basic);
        context.Check(Inside(d, b), "the default selection rectangle lies outside the bounds", basic);
        var readOnly = new List<uint> { defaultTarget, bounds };
        if (!isCrop)
        {
            var padded = await session.VIDIOC_G_SELECTION(new v4l2_selection { type = type, target = V4L2_SEL_TGT_COMPOSE_PADDED }, null, context.Token).ConfigureAwait(false);
            context.Check(padded.Status is 0 or EINVAL, $"VIDIOC_G_SELECTION of V4L2_SEL_TGT_COMPOSE_PADDED answered {ErrnoNames.Of(padded.Status)}, expected success or EINVAL", basic);
            context.Check(padded.Status != 0 || (padded.Payload.r.width > 0 && padded.Payload.r.height > 0 && Inside(padded.Payload.r, b)),
                "the padded compose rectangle is empty or lies outside the bounds", basic);
            readOnly.Add(V4L2_SEL_TGT_COMPOSE_PADDED);
        }
        var set = await session.VIDIOC_S_SELECTION(current, null, context.Token).ConfigureAwait(false);
        context.Check(set.Status is 0 or ENOTTY or EINVAL, $"VIDIOC_S_SELECTION(G_SELECTION) answered {ErrnoNames.Of(set.Status)}", source);
        // S_SELECTION of an invalid type answers EINVAL (or ENOTTY without S_SELECTION); an invalid target and the
        // read-only targets answer the same.
        var invalid = current;
        invalid.type = 0xFF;
        var refusal = (await session.VIDIOC_S_SELECTION(invalid, null, context.Token).ConfigureAwait(false)).Status;
        context.Check(refusal is EINVAL or ENOTTY, $"VIDIOC_S_SELECTION of buffer type 0xff answered {ErrnoNames.Of(refusal)}, expected EINVAL or ENOTTY", basic);
        readOnly.Insert(0, 0xFFFF);
        foreach (var other in readOnly)
        {
            var attempt = current;
            attempt.target = other;
            var status = (await session.VIDIOC_S_SELECTION(attempt, null, context.Token).ConfigureAwait(false)).Status;
            context.Check(status == refusal, $"VIDIOC_S_SELECTION of target 0x{other:x} answered {ErrnoNames.Of(status)}, not {ErrnoNames.Of(refusal)} as for an invalid type", basic);
        }
    }

    private static bool Inside(in v4l2_rect inner, in v4l2_rect outer) => inner.left >= outer.left && inner.top >= outer.top
        && (long)inner.left + inner.width <= (long)outer.left + outer.width && (long)inner.top + inner.height <= (long)outer.top + outer.height;

    private static async Task ScalingAsync(ComplianceContext context)
    {
        var session = await context.OpenAsync().ConfigureAwait(false);
        var type = context.Node.IsMultiPlanar ? (context.Node.IsOutputType ? V4L2_BUF_TYPE_VIDEO_OUTPUT : V4L2_BUF_TYPE_VIDEO_CAPTURE) : context.Node.BufferType;
        var crop = await session.VIDIOC_G_SELECTION(new v4l2_selection { type = type, target = V4L2_SEL_TGT_CROP }, null, context.Token).ConfigureAwait(false);
        var compose = await session.VIDIOC_G_SELECTION(new v4l2_selection { type = type, target = V4L2_SEL_TGT_COMPOSE }, null, context.Token).ConfigureAwait(false);
        if (crop.Status != 0 || compose.Status != 0)
        {
            throw ComplianceContext.NotSupported("no crop and compose selection, so no scaling");
        }
        context.Note("the device offers crop and compose; only their consistency was checked");
    }
}
