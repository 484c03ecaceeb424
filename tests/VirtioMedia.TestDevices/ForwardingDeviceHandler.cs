using System;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.TestDevices;

/// <summary>
/// A handler that answers every ioctl by its inner handler's method, so a subclass changes one answer and nothing
/// else. Every overridable ioctl method of <see cref="V4l2DeviceHandler{TContext}"/> is forwarded (a test checks
/// this stays so when the headers gain an ioctl); the inner handler is disposed with this one.
/// </summary>
public class ForwardingDeviceHandler(V4l2DeviceHandler<DeviceIoctlContext> inner) : V4l2DeviceHandler<DeviceIoctlContext>, IDisposable
{
    /// <summary>The handler every ioctl goes to.</summary>
    protected V4l2DeviceHandler<DeviceIoctlContext> Inner { get; } = inner ?? throw new ArgumentNullException(nameof(inner));

    /// <summary>Disposes the inner handler when it is disposable (the endpoint disposes this one when the session closes).</summary>
    public void Dispose()
    {
        (Inner as IDisposable)?.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <inheritdoc/>
    public override int VIDIOC_QUERYCAP(DeviceIoctlContext context, ref v4l2_capability payload) => Inner.VIDIOC_QUERYCAP(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FMT(DeviceIoctlContext context, ref v4l2_fmtdesc payload) => Inner.VIDIOC_ENUM_FMT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload) => Inner.VIDIOC_G_FMT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_FMT(DeviceIoctlContext context, ref v4l2_format payload) => Inner.VIDIOC_S_FMT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_REQBUFS(DeviceIoctlContext context, ref v4l2_requestbuffers payload) => Inner.VIDIOC_REQBUFS(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERYBUF(DeviceIoctlContext context, ref v4l2_buffer payload) => Inner.VIDIOC_QUERYBUF(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_FBUF(DeviceIoctlContext context, ref v4l2_framebuffer payload) => Inner.VIDIOC_G_FBUF(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_FBUF(DeviceIoctlContext context, ref v4l2_framebuffer payload) => Inner.VIDIOC_S_FBUF(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_OVERLAY(DeviceIoctlContext context, ref int payload) => Inner.VIDIOC_OVERLAY(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QBUF(DeviceIoctlContext context, ref v4l2_buffer payload) => Inner.VIDIOC_QBUF(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_EXPBUF(DeviceIoctlContext context, ref v4l2_exportbuffer payload) => Inner.VIDIOC_EXPBUF(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_DQBUF(DeviceIoctlContext context, ref v4l2_buffer payload) => Inner.VIDIOC_DQBUF(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_STREAMON(DeviceIoctlContext context, ref int payload) => Inner.VIDIOC_STREAMON(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_STREAMOFF(DeviceIoctlContext context, ref int payload) => Inner.VIDIOC_STREAMOFF(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_PARM(DeviceIoctlContext context, ref v4l2_streamparm payload) => Inner.VIDIOC_G_PARM(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_PARM(DeviceIoctlContext context, ref v4l2_streamparm payload) => Inner.VIDIOC_S_PARM(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_STD(DeviceIoctlContext context, ref ulong payload) => Inner.VIDIOC_G_STD(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_STD(DeviceIoctlContext context, ref ulong payload) => Inner.VIDIOC_S_STD(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUMSTD(DeviceIoctlContext context, ref v4l2_standard payload) => Inner.VIDIOC_ENUMSTD(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUMINPUT(DeviceIoctlContext context, ref v4l2_input payload) => Inner.VIDIOC_ENUMINPUT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_CTRL(DeviceIoctlContext context, ref v4l2_control payload) => Inner.VIDIOC_G_CTRL(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_CTRL(DeviceIoctlContext context, ref v4l2_control payload) => Inner.VIDIOC_S_CTRL(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_TUNER(DeviceIoctlContext context, ref v4l2_tuner payload) => Inner.VIDIOC_G_TUNER(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_TUNER(DeviceIoctlContext context, ref v4l2_tuner payload) => Inner.VIDIOC_S_TUNER(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_AUDIO(DeviceIoctlContext context, ref v4l2_audio payload) => Inner.VIDIOC_G_AUDIO(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_AUDIO(DeviceIoctlContext context, ref v4l2_audio payload) => Inner.VIDIOC_S_AUDIO(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERYCTRL(DeviceIoctlContext context, ref v4l2_queryctrl payload) => Inner.VIDIOC_QUERYCTRL(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERYMENU(DeviceIoctlContext context, ref v4l2_querymenu payload) => Inner.VIDIOC_QUERYMENU(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_INPUT(DeviceIoctlContext context, ref int payload) => Inner.VIDIOC_G_INPUT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_INPUT(DeviceIoctlContext context, ref int payload) => Inner.VIDIOC_S_INPUT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_EDID(DeviceIoctlContext context, ref v4l2_edid payload) => Inner.VIDIOC_G_EDID(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_EDID(DeviceIoctlContext context, ref v4l2_edid payload) => Inner.VIDIOC_S_EDID(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_OUTPUT(DeviceIoctlContext context, ref int payload) => Inner.VIDIOC_G_OUTPUT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_OUTPUT(DeviceIoctlContext context, ref int payload) => Inner.VIDIOC_S_OUTPUT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUMOUTPUT(DeviceIoctlContext context, ref v4l2_output payload) => Inner.VIDIOC_ENUMOUTPUT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_AUDOUT(DeviceIoctlContext context, ref v4l2_audioout payload) => Inner.VIDIOC_G_AUDOUT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_AUDOUT(DeviceIoctlContext context, ref v4l2_audioout payload) => Inner.VIDIOC_S_AUDOUT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_MODULATOR(DeviceIoctlContext context, ref v4l2_modulator payload) => Inner.VIDIOC_G_MODULATOR(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_MODULATOR(DeviceIoctlContext context, ref v4l2_modulator payload) => Inner.VIDIOC_S_MODULATOR(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_FREQUENCY(DeviceIoctlContext context, ref v4l2_frequency payload) => Inner.VIDIOC_G_FREQUENCY(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_FREQUENCY(DeviceIoctlContext context, ref v4l2_frequency payload) => Inner.VIDIOC_S_FREQUENCY(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_CROPCAP(DeviceIoctlContext context, ref v4l2_cropcap payload) => Inner.VIDIOC_CROPCAP(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_CROP(DeviceIoctlContext context, ref v4l2_crop payload) => Inner.VIDIOC_G_CROP(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_CROP(DeviceIoctlContext context, ref v4l2_crop payload) => Inner.VIDIOC_S_CROP(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_JPEGCOMP(DeviceIoctlContext context, ref v4l2_jpegcompression payload) => Inner.VIDIOC_G_JPEGCOMP(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_JPEGCOMP(DeviceIoctlContext context, ref v4l2_jpegcompression payload) => Inner.VIDIOC_S_JPEGCOMP(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERYSTD(DeviceIoctlContext context, ref ulong payload) => Inner.VIDIOC_QUERYSTD(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_TRY_FMT(DeviceIoctlContext context, ref v4l2_format payload) => Inner.VIDIOC_TRY_FMT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUMAUDIO(DeviceIoctlContext context, ref v4l2_audio payload) => Inner.VIDIOC_ENUMAUDIO(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUMAUDOUT(DeviceIoctlContext context, ref v4l2_audioout payload) => Inner.VIDIOC_ENUMAUDOUT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_PRIORITY(DeviceIoctlContext context, ref uint payload) => Inner.VIDIOC_G_PRIORITY(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_PRIORITY(DeviceIoctlContext context, ref uint payload) => Inner.VIDIOC_S_PRIORITY(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_SLICED_VBI_CAP(DeviceIoctlContext context, ref v4l2_sliced_vbi_cap payload) => Inner.VIDIOC_G_SLICED_VBI_CAP(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_LOG_STATUS(DeviceIoctlContext context) => Inner.VIDIOC_LOG_STATUS(context);

    /// <inheritdoc/>
    public override int VIDIOC_G_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) => Inner.VIDIOC_G_EXT_CTRLS(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) => Inner.VIDIOC_S_EXT_CTRLS(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_TRY_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) => Inner.VIDIOC_TRY_EXT_CTRLS(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FRAMESIZES(DeviceIoctlContext context, ref v4l2_frmsizeenum payload) => Inner.VIDIOC_ENUM_FRAMESIZES(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FRAMEINTERVALS(DeviceIoctlContext context, ref v4l2_frmivalenum payload) => Inner.VIDIOC_ENUM_FRAMEINTERVALS(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_ENC_INDEX(DeviceIoctlContext context, ref v4l2_enc_idx payload) => Inner.VIDIOC_G_ENC_INDEX(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENCODER_CMD(DeviceIoctlContext context, ref v4l2_encoder_cmd payload) => Inner.VIDIOC_ENCODER_CMD(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_TRY_ENCODER_CMD(DeviceIoctlContext context, ref v4l2_encoder_cmd payload) => Inner.VIDIOC_TRY_ENCODER_CMD(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_DBG_S_REGISTER(DeviceIoctlContext context, ref v4l2_dbg_register payload) => Inner.VIDIOC_DBG_S_REGISTER(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_DBG_G_REGISTER(DeviceIoctlContext context, ref v4l2_dbg_register payload) => Inner.VIDIOC_DBG_G_REGISTER(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_HW_FREQ_SEEK(DeviceIoctlContext context, ref v4l2_hw_freq_seek payload) => Inner.VIDIOC_S_HW_FREQ_SEEK(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_DV_TIMINGS(DeviceIoctlContext context, ref v4l2_dv_timings payload) => Inner.VIDIOC_S_DV_TIMINGS(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_DV_TIMINGS(DeviceIoctlContext context, ref v4l2_dv_timings payload) => Inner.VIDIOC_G_DV_TIMINGS(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_DQEVENT(DeviceIoctlContext context, ref v4l2_event payload) => Inner.VIDIOC_DQEVENT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_SUBSCRIBE_EVENT(DeviceIoctlContext context, ref v4l2_event_subscription payload) => Inner.VIDIOC_SUBSCRIBE_EVENT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_UNSUBSCRIBE_EVENT(DeviceIoctlContext context, ref v4l2_event_subscription payload) => Inner.VIDIOC_UNSUBSCRIBE_EVENT(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_CREATE_BUFS(DeviceIoctlContext context, ref v4l2_create_buffers payload) => Inner.VIDIOC_CREATE_BUFS(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_PREPARE_BUF(DeviceIoctlContext context, ref v4l2_buffer payload) => Inner.VIDIOC_PREPARE_BUF(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_G_SELECTION(DeviceIoctlContext context, ref v4l2_selection payload) => Inner.VIDIOC_G_SELECTION(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_SELECTION(DeviceIoctlContext context, ref v4l2_selection payload) => Inner.VIDIOC_S_SELECTION(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_DECODER_CMD(DeviceIoctlContext context, ref v4l2_decoder_cmd payload) => Inner.VIDIOC_DECODER_CMD(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_TRY_DECODER_CMD(DeviceIoctlContext context, ref v4l2_decoder_cmd payload) => Inner.VIDIOC_TRY_DECODER_CMD(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_DV_TIMINGS(DeviceIoctlContext context, ref v4l2_enum_dv_timings payload) => Inner.VIDIOC_ENUM_DV_TIMINGS(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERY_DV_TIMINGS(DeviceIoctlContext context, ref v4l2_dv_timings payload) => Inner.VIDIOC_QUERY_DV_TIMINGS(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_DV_TIMINGS_CAP(DeviceIoctlContext context, ref v4l2_dv_timings_cap payload) => Inner.VIDIOC_DV_TIMINGS_CAP(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FREQ_BANDS(DeviceIoctlContext context, ref v4l2_frequency_band payload) => Inner.VIDIOC_ENUM_FREQ_BANDS(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_DBG_G_CHIP_INFO(DeviceIoctlContext context, ref v4l2_dbg_chip_info payload) => Inner.VIDIOC_DBG_G_CHIP_INFO(context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_QUERY_EXT_CTRL(DeviceIoctlContext context, ref v4l2_query_ext_ctrl payload) => Inner.VIDIOC_QUERY_EXT_CTRL(context, ref payload);
}
