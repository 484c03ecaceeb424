using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.TestDevices;

/// <summary>How a <see cref="SelectionRules"/> device answers G/S_SELECTION on its capture queue.</summary>
public enum SelectionBehaviour
{
    /// <summary>As vivid's webcam input: both answer ENODATA, since the input has no cropping or composing
    /// (vivid-vid-cap.c, vivid_vid_cap_g_selection / s_selection).</summary>
    Webcam,

    /// <summary>Broken: G_SELECTION answers ENODATA, yet S_SELECTION succeeds (v4l2-test-formats.cpp, testBasicSelection).</summary>
    WebcamThatSetsSelections,

    /// <summary>Cropping of the whole frame: CROP, CROP_DEFAULT and CROP_BOUNDS answer, S_SELECTION of CROP keeps
    /// the rectangle within the bounds; compose targets answer EINVAL.</summary>
    Crop,

    /// <summary>Broken: cropping as <see cref="Crop"/>, but G_SELECTION of CROP_BOUNDS answers EINVAL
    /// (v4l2-test-formats.cpp, testBasicCrop).</summary>
    CropWithoutBounds,
}

/// <summary>
/// The sample camera (single-planar capture) with selection answers of its own; every other ioctl is the camera's.
/// A rectangle set is the session's; the kernel's rules for answers hold (reserved cleared; EINVAL for a buffer type
/// the node lacks or a target it has not).
/// </summary>
public sealed class SelectionRules(V4l2DeviceHandler<DeviceIoctlContext> inner, SelectionBehaviour behaviour) : ForwardingDeviceHandler(inner)
{
    private const uint Capture = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE;
    private v4l2_rect? _crop;

    /// <inheritdoc/>
    public override int VIDIOC_G_SELECTION(DeviceIoctlContext context, ref v4l2_selection payload)
    {
        if (payload.type != Capture)
        {
            return Constants.EINVAL;
        }
        if (behaviour is SelectionBehaviour.Webcam or SelectionBehaviour.WebcamThatSetsSelections)
        {
            return Constants.ENODATA;
        }
        var frame = Frame(context);
        switch (payload.target)
        {
            case Constants.V4L2_SEL_TGT_CROP:
                Answer(ref payload, _crop ?? frame);
                return 0;
            case Constants.V4L2_SEL_TGT_CROP_DEFAULT:
                Answer(ref payload, frame);
                return 0;
            case Constants.V4L2_SEL_TGT_CROP_BOUNDS when behaviour != SelectionBehaviour.CropWithoutBounds:
                Answer(ref payload, frame);
                return 0;
            default:
                return Constants.EINVAL;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_S_SELECTION(DeviceIoctlContext context, ref v4l2_selection payload)
    {
        if (payload.type != Capture)
        {
            return Constants.EINVAL;
        }
        switch (behaviour)
        {
            case SelectionBehaviour.Webcam:
                return Constants.ENODATA;
            case SelectionBehaviour.WebcamThatSetsSelections:
                return 0;
        }
        if (payload.target != Constants.V4L2_SEL_TGT_CROP)
        {
            return Constants.EINVAL;
        }
        // Within the frame: at least 1x1, the origin moved in so the rectangle fits.
        var frame = Frame(context);
        var r = payload.r;
        var width = System.Math.Clamp(r.width, 1u, frame.width);
        var height = System.Math.Clamp(r.height, 1u, frame.height);
        var left = System.Math.Clamp(r.left, 0, (int)(frame.width - width));
        var top = System.Math.Clamp(r.top, 0, (int)(frame.height - height));
        _crop = new v4l2_rect { left = left, top = top, width = width, height = height };
        Answer(ref payload, _crop.Value);
        return 0;
    }

    private static void Answer(ref v4l2_selection payload, v4l2_rect rectangle)
    {
        payload.r = rectangle;
        payload.flags = 0;
        ((System.Span<uint>)payload.reserved).Clear();
    }

    private v4l2_rect Frame(DeviceIoctlContext context)
    {
        var format = new v4l2_format { type = Capture };
        Inner.VIDIOC_G_FMT(context, ref format);
        return new v4l2_rect { width = format.fmt.pix.width, height = format.fmt.pix.height };
    }
}
