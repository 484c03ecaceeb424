using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Proxy;

// The ioctls whose payloads hold no pointer and name no buffer: the host node gets the guest's payload as is (the
// structs are the kernel's own), and its answer and errno go back unchanged; QUERYCAP and the format ioctls leave out
// what virtio-media does not carry (read/write, overlays; see V4l2Proxy.ServedCaps).
public sealed partial class ProxySession
{
    /// <inheritdoc/>
    public override int VIDIOC_QUERYCAP(DeviceIoctlContext context, ref v4l2_capability payload)
    {
        var status = Forward(Ioctls.VIDIOC_QUERYCAP.Descriptor.Request, ref payload);
        payload.device_caps = V4l2Proxy.ServedCaps(payload.device_caps);
        payload.capabilities = V4l2Proxy.ServedCaps(payload.capabilities);
        return status;
    }

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FMT(DeviceIoctlContext context, ref v4l2_fmtdesc payload) =>
        V4l2Proxy.IsOverlay(payload.type) ? Constants.EINVAL : Forward(Ioctls.VIDIOC_ENUM_FMT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload) =>
        V4l2Proxy.IsOverlay(payload.type) ? Constants.EINVAL : Forward(Ioctls.VIDIOC_G_FMT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_FMT(DeviceIoctlContext context, ref v4l2_format payload) =>
        V4l2Proxy.IsOverlay(payload.type) ? Constants.EINVAL : Forward(Ioctls.VIDIOC_S_FMT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_PARM(DeviceIoctlContext context, ref v4l2_streamparm payload) => WithoutReadWrite(Forward(Ioctls.VIDIOC_G_PARM.Descriptor.Request, ref payload), ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_PARM(DeviceIoctlContext context, ref v4l2_streamparm payload) => WithoutReadWrite(Forward(Ioctls.VIDIOC_S_PARM.Descriptor.Request, ref payload), ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_STD(DeviceIoctlContext context, ref ulong payload) => Forward(Ioctls.VIDIOC_G_STD.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_STD(DeviceIoctlContext context, ref ulong payload) => Forward(Ioctls.VIDIOC_S_STD.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUMSTD(DeviceIoctlContext context, ref v4l2_standard payload) => Forward(Ioctls.VIDIOC_ENUMSTD.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUMINPUT(DeviceIoctlContext context, ref v4l2_input payload) => Forward(Ioctls.VIDIOC_ENUMINPUT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_CTRL(DeviceIoctlContext context, ref v4l2_control payload) => Forward(Ioctls.VIDIOC_G_CTRL.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_CTRL(DeviceIoctlContext context, ref v4l2_control payload) => Forward(Ioctls.VIDIOC_S_CTRL.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_TUNER(DeviceIoctlContext context, ref v4l2_tuner payload) => Forward(Ioctls.VIDIOC_G_TUNER.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_TUNER(DeviceIoctlContext context, ref v4l2_tuner payload) => Forward(Ioctls.VIDIOC_S_TUNER.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_AUDIO(DeviceIoctlContext context, ref v4l2_audio payload) => Forward(Ioctls.VIDIOC_G_AUDIO.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_AUDIO(DeviceIoctlContext context, ref v4l2_audio payload) => Forward(Ioctls.VIDIOC_S_AUDIO.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERYCTRL(DeviceIoctlContext context, ref v4l2_queryctrl payload) => Forward(Ioctls.VIDIOC_QUERYCTRL.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERYMENU(DeviceIoctlContext context, ref v4l2_querymenu payload) => Forward(Ioctls.VIDIOC_QUERYMENU.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_INPUT(DeviceIoctlContext context, ref int payload) => Forward(Ioctls.VIDIOC_G_INPUT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_INPUT(DeviceIoctlContext context, ref int payload) => Forward(Ioctls.VIDIOC_S_INPUT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_OUTPUT(DeviceIoctlContext context, ref int payload) => Forward(Ioctls.VIDIOC_G_OUTPUT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_OUTPUT(DeviceIoctlContext context, ref int payload) => Forward(Ioctls.VIDIOC_S_OUTPUT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUMOUTPUT(DeviceIoctlContext context, ref v4l2_output payload) => Forward(Ioctls.VIDIOC_ENUMOUTPUT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_AUDOUT(DeviceIoctlContext context, ref v4l2_audioout payload) => Forward(Ioctls.VIDIOC_G_AUDOUT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_AUDOUT(DeviceIoctlContext context, ref v4l2_audioout payload) => Forward(Ioctls.VIDIOC_S_AUDOUT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_MODULATOR(DeviceIoctlContext context, ref v4l2_modulator payload) => Forward(Ioctls.VIDIOC_G_MODULATOR.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_MODULATOR(DeviceIoctlContext context, ref v4l2_modulator payload) => Forward(Ioctls.VIDIOC_S_MODULATOR.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_FREQUENCY(DeviceIoctlContext context, ref v4l2_frequency payload) => Forward(Ioctls.VIDIOC_G_FREQUENCY.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_FREQUENCY(DeviceIoctlContext context, ref v4l2_frequency payload) => Forward(Ioctls.VIDIOC_S_FREQUENCY.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_CROPCAP(DeviceIoctlContext context, ref v4l2_cropcap payload) => Forward(Ioctls.VIDIOC_CROPCAP.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_CROP(DeviceIoctlContext context, ref v4l2_crop payload) => Forward(Ioctls.VIDIOC_G_CROP.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_CROP(DeviceIoctlContext context, ref v4l2_crop payload) => Forward(Ioctls.VIDIOC_S_CROP.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_JPEGCOMP(DeviceIoctlContext context, ref v4l2_jpegcompression payload) => Forward(Ioctls.VIDIOC_G_JPEGCOMP.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_JPEGCOMP(DeviceIoctlContext context, ref v4l2_jpegcompression payload) => Forward(Ioctls.VIDIOC_S_JPEGCOMP.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERYSTD(DeviceIoctlContext context, ref ulong payload) => Forward(Ioctls.VIDIOC_QUERYSTD.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_TRY_FMT(DeviceIoctlContext context, ref v4l2_format payload) =>
        V4l2Proxy.IsOverlay(payload.type) ? Constants.EINVAL : Forward(Ioctls.VIDIOC_TRY_FMT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUMAUDIO(DeviceIoctlContext context, ref v4l2_audio payload) => Forward(Ioctls.VIDIOC_ENUMAUDIO.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUMAUDOUT(DeviceIoctlContext context, ref v4l2_audioout payload) => Forward(Ioctls.VIDIOC_ENUMAUDOUT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_PRIORITY(DeviceIoctlContext context, ref uint payload) => Forward(Ioctls.VIDIOC_G_PRIORITY.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_PRIORITY(DeviceIoctlContext context, ref uint payload) => Forward(Ioctls.VIDIOC_S_PRIORITY.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_SLICED_VBI_CAP(DeviceIoctlContext context, ref v4l2_sliced_vbi_cap payload) => Forward(Ioctls.VIDIOC_G_SLICED_VBI_CAP.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FRAMESIZES(DeviceIoctlContext context, ref v4l2_frmsizeenum payload) => Forward(Ioctls.VIDIOC_ENUM_FRAMESIZES.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FRAMEINTERVALS(DeviceIoctlContext context, ref v4l2_frmivalenum payload) => Forward(Ioctls.VIDIOC_ENUM_FRAMEINTERVALS.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_ENC_INDEX(DeviceIoctlContext context, ref v4l2_enc_idx payload) => Forward(Ioctls.VIDIOC_G_ENC_INDEX.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENCODER_CMD(DeviceIoctlContext context, ref v4l2_encoder_cmd payload) => Forward(Ioctls.VIDIOC_ENCODER_CMD.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_TRY_ENCODER_CMD(DeviceIoctlContext context, ref v4l2_encoder_cmd payload) => Forward(Ioctls.VIDIOC_TRY_ENCODER_CMD.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_HW_FREQ_SEEK(DeviceIoctlContext context, ref v4l2_hw_freq_seek payload) => Forward(Ioctls.VIDIOC_S_HW_FREQ_SEEK.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_DV_TIMINGS(DeviceIoctlContext context, ref v4l2_dv_timings payload) => Forward(Ioctls.VIDIOC_S_DV_TIMINGS.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_DV_TIMINGS(DeviceIoctlContext context, ref v4l2_dv_timings payload) => Forward(Ioctls.VIDIOC_G_DV_TIMINGS.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_SUBSCRIBE_EVENT(DeviceIoctlContext context, ref v4l2_event_subscription payload) => Forward(Ioctls.VIDIOC_SUBSCRIBE_EVENT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_UNSUBSCRIBE_EVENT(DeviceIoctlContext context, ref v4l2_event_subscription payload) => Forward(Ioctls.VIDIOC_UNSUBSCRIBE_EVENT.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_SELECTION(DeviceIoctlContext context, ref v4l2_selection payload) => Forward(Ioctls.VIDIOC_G_SELECTION.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_SELECTION(DeviceIoctlContext context, ref v4l2_selection payload) => Forward(Ioctls.VIDIOC_S_SELECTION.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_DECODER_CMD(DeviceIoctlContext context, ref v4l2_decoder_cmd payload) => Forward(Ioctls.VIDIOC_DECODER_CMD.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_TRY_DECODER_CMD(DeviceIoctlContext context, ref v4l2_decoder_cmd payload) => Forward(Ioctls.VIDIOC_TRY_DECODER_CMD.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_DV_TIMINGS(DeviceIoctlContext context, ref v4l2_enum_dv_timings payload) => Forward(Ioctls.VIDIOC_ENUM_DV_TIMINGS.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERY_DV_TIMINGS(DeviceIoctlContext context, ref v4l2_dv_timings payload) => Forward(Ioctls.VIDIOC_QUERY_DV_TIMINGS.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_DV_TIMINGS_CAP(DeviceIoctlContext context, ref v4l2_dv_timings_cap payload) => Forward(Ioctls.VIDIOC_DV_TIMINGS_CAP.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FREQ_BANDS(DeviceIoctlContext context, ref v4l2_frequency_band payload) => Forward(Ioctls.VIDIOC_ENUM_FREQ_BANDS.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_DBG_G_CHIP_INFO(DeviceIoctlContext context, ref v4l2_dbg_chip_info payload) => Forward(Ioctls.VIDIOC_DBG_G_CHIP_INFO.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERY_EXT_CTRL(DeviceIoctlContext context, ref v4l2_query_ext_ctrl payload) => Forward(Ioctls.VIDIOC_QUERY_EXT_CTRL.Descriptor.Request, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_LOG_STATUS(DeviceIoctlContext context) => _node.Ioctl(Ioctls.VIDIOC_LOG_STATUS.Descriptor.Request);

    // readbuffers and writebuffers count read()/write() buffers; without V4L2_CAP_READWRITE they must be 0 (videodev2.h).
    private static int WithoutReadWrite(int status, ref v4l2_streamparm payload)
    {
        if (ProxyQueue.IsOutput(payload.type))
        {
            payload.parm.output.writebuffers = 0;
        }
        else
        {
            payload.parm.capture.readbuffers = 0;
        }
        return status;
    }
}
