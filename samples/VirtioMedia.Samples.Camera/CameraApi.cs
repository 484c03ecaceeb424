namespace VirtioMedia.Samples.Camera;

/// <summary>
/// Which V4L2 capture API the camera's node exposes. A node offers one: V4L2 drivers may not set both
/// V4L2_CAP_VIDEO_CAPTURE and V4L2_CAP_VIDEO_CAPTURE_MPLANE (v4l2-compliance: v4l2-compliance.cpp, testCap).
/// </summary>
public enum CameraApi
{
    /// <summary>V4L2_BUF_TYPE_VIDEO_CAPTURE: YUYV, RGB24 and NV12, one memory plane each.</summary>
    SinglePlanar,

    /// <summary>V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE: YUYV, RGB24 and NV12 with one memory plane, NV12M with two.</summary>
    MultiPlanar,
}
