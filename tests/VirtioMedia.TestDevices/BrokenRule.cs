namespace VirtioMedia.TestDevices;

/// <summary>
/// The rule a <see cref="BrokenCamera"/> breaks; everything else it answers as the sample camera does. Each names the
/// v4l2-compliance 1.22.1 check it violates (utils/v4l2-compliance/ of v4l-utils, file and function).
/// </summary>
public enum BrokenRule
{
    /// <summary>The good camera: nothing broken.</summary>
    None,

    /// <summary>The configuration's device_caps lack V4L2_CAP_STREAMING although the node streams
    /// (v4l2-compliance.cpp, testCap: a video node has READWRITE or STREAMING; v4l2-test-buffers.cpp, testReqBufs:
    /// REQBUFS must fail without streaming I/O).</summary>
    DeviceCapsWithoutStreaming,

    /// <summary>ENUM_FMT answers the first format again at the index past the last, instead of EINVAL
    /// (v4l2-test-formats.cpp, testEnumFormatsType: "duplicate format").</summary>
    EnumFmtRepeatsFirstFormat,

    /// <summary>G/TRY/S_FMT answer a bytesperline below the width (v4l2-test-formats.cpp, testFormatsType:
    /// bytesperline &lt; width).</summary>
    BytesPerLineBelowWidth,

    /// <summary>G/TRY/S_FMT answer field V4L2_FIELD_ANY, which only a request may carry (v4l2-test-formats.cpp,
    /// testFormatsType: field == V4L2_FIELD_ANY).</summary>
    FieldAny,

    /// <summary>G/S_PARM answer no V4L2_CAP_TIMEPERFRAME although ENUM_FRAMEINTERVALS lists intervals
    /// (v4l2-test-formats.cpp, testParmStruct: has_frmintervals &amp;&amp; !capability).</summary>
    ParmWithoutTimePerFrame,

    /// <summary>ENUM_FRAMESIZES answers a discrete 0x0 size at the index past the last, instead of EINVAL
    /// (v4l2-test-formats.cpp, testEnumFrameSizes: "invalid width/height for discrete framesize").</summary>
    FrameSizeZero,

    /// <summary>QUERYCTRL and QUERY_EXT_CTRL answer step 0 for the brightness control, an integer control
    /// (v4l2-test-controls.cpp, checkQCtrl: "step == 0").</summary>
    QueryCtrlStepZero,

    /// <summary>S_CTRL answers success, with the value it was given, for a value outside the control's range,
    /// instead of clamping it or ERANGE (v4l2-test-controls.cpp, testSimpleControls: "invalid control").</summary>
    SetCtrlOutOfRangeAccepted,

    /// <summary>A failing TRY_EXT_CTRLS answers error_idx = count instead of the failing control's index
    /// (v4l2-test-controls.cpp, testExtendedControls: "invalid error index read only control", then
    /// "try_ext_ctrls(0) invalid error_idx").</summary>
    TryExtCtrlsErrorIndex,

    /// <summary>SUBSCRIBE_EVENT of a control ignores V4L2_EVENT_SUB_FL_SEND_INITIAL: no initial event
    /// (v4l2-test-controls.cpp, testEvents: "failed to find event for control").</summary>
    ControlEventWithoutInitial,

    /// <summary>REQBUFS and CREATE_BUFS answer capabilities without V4L2_BUF_CAP_SUPPORTS_MMAP although MMAP works
    /// (v4l2-test-buffers.cpp, testReqBufs: mmap_valid ^ SUPPORTS_MMAP).</summary>
    BufferCapsWithoutMmap,

    /// <summary>QUERYBUF answers flags without a timestamp type (no V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC)
    /// (v4l2-test-buffers.cpp, buffer::check from testQueryBuf: timestamp type neither MONOTONIC nor COPY).</summary>
    QueryBufWithoutTimestampType,

}
