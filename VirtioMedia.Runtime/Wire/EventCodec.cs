using System;
using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Wire;

/// <summary>
/// The eventq messages: ERROR (16 bytes), DQBUF (always 608 bytes: header, <c>v4l2_buffer</c>, 8 <c>v4l2_plane</c>)
/// and EVENT (144 bytes). The device encodes them, the driver decodes and validates them.
/// </summary>
public static class EventCodec
{
    /// <summary>Device: writes <c>virtio_media_event_error</c>.</summary>
    public static WireResult EncodeError(ref ChainWriter writer, uint sessionId, int errno)
    {
        var message = new virtio_media_event_error { hdr = Header(Constants.VIRTIO_MEDIA_EVT_ERROR, sessionId), errno = unchecked((uint)errno) };
        return Write(ref writer, message);
    }

    /// <summary>
    /// Device: writes <c>virtio_media_event_dqbuf</c>. Pointer values (<c>m.planes</c>, <c>m.userptr</c> of the
    /// buffer and planes) are written as 0, as the specification recommends, so no device address leaks.
    /// </summary>
    public static WireResult EncodeDqbuf(ref ChainWriter writer, uint sessionId, in v4l2_buffer buffer, ReadOnlySpan<v4l2_plane> planes)
    {
        if (planes.Length > Constants.VIRTIO_MEDIA_MAX_PLANES)
        {
            return WireResult.Fail(Errno.EINVAL, "more planes than VIRTIO_MEDIA_MAX_PLANES");
        }
        var message = new virtio_media_event_dqbuf { hdr = Header(Constants.VIRTIO_MEDIA_EVT_DQBUF, sessionId), buffer = buffer };
        var userptr = buffer.memory == Constants.V4L2_MEMORY_USERPTR;
        if (IsMultiplanar(buffer.type) || userptr)
        {
            message.buffer.m.planes = 0;
        }
        for (var i = 0; i < planes.Length; i++)
        {
            message.planes[i] = planes[i];
            if (userptr)
            {
                message.planes[i].m.userptr = 0;
            }
        }
        return Write(ref writer, message);
    }

    /// <summary>Device: writes <c>virtio_media_event_event</c>.</summary>
    public static WireResult EncodeEvent(ref ChainWriter writer, uint sessionId, in v4l2_event payload)
    {
        var message = new virtio_media_event_event { hdr = Header(Constants.VIRTIO_MEDIA_EVT_EVENT, sessionId), @event = payload };
        return Write(ref writer, message);
    }

    /// <summary>Driver: reads the event header without consuming it.</summary>
    public static WireResult PeekHeader(ChainReader reader, out virtio_media_event_header header)
        => reader.TryRead(out header) ? WireResult.Ok : WireResult.Fail(Errno.EFAULT, "event shorter than its header");

    /// <summary>Driver: reads an ERROR event.</summary>
    public static WireResult DecodeError(ref ChainReader reader, out virtio_media_event_error message)
        => Read(ref reader, Constants.VIRTIO_MEDIA_EVT_ERROR, out message);

    /// <summary>
    /// Driver: reads a DQBUF event and checks that a multi-planar buffer claims at most 8 planes. Pointer values
    /// are meaningless and callers must ignore them.
    /// </summary>
    public static WireResult DecodeDqbuf(ref ChainReader reader, out virtio_media_event_dqbuf message)
    {
        var start = reader;
        var result = Read(ref reader, Constants.VIRTIO_MEDIA_EVT_DQBUF, out message);
        if (result.IsSuccess && IsMultiplanar(message.buffer.type) && message.buffer.length > Constants.VIRTIO_MEDIA_MAX_PLANES)
        {
            reader = start;
            return WireResult.Fail(Errno.EINVAL, "DQBUF event claims more than 8 planes");
        }
        return result;
    }

    /// <summary>Driver: reads an EVENT event.</summary>
    public static WireResult DecodeEvent(ref ChainReader reader, out virtio_media_event_event message)
        => Read(ref reader, Constants.VIRTIO_MEDIA_EVT_EVENT, out message);

    /// <summary><c>V4L2_TYPE_IS_MULTIPLANAR</c>: the two multi-planar video buffer types.</summary>
    public static bool IsMultiplanar(uint bufferType)
        => bufferType == Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE || bufferType == Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;

    private static virtio_media_event_header Header(int @event, uint sessionId) => new() { @event = (uint)@event, session_id = sessionId };

    private static WireResult Write<T>(ref ChainWriter writer, in T message)
        where T : unmanaged
        => writer.TryWrite(message) ? WireResult.Ok : WireResult.Fail(Errno.ENOSPC, "eventq buffer too small for the event");

    private static WireResult Read<T>(ref ChainReader reader, int expected, out T message)
        where T : unmanaged
    {
        var start = reader;
        if (!reader.TryRead(out message))
        {
            reader = start;
            return WireResult.Fail(Errno.EFAULT, "event shorter than its struct");
        }
        var header = System.Runtime.InteropServices.MemoryMarshal.Read<virtio_media_event_header>(
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in message)));
        if (header.@event != (uint)expected)
        {
            reader = start;
            return WireResult.Fail(Errno.EINVAL, "unexpected event type");
        }
        return WireResult.Ok;
    }
}
