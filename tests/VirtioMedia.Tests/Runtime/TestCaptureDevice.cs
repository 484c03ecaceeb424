using System;
using System.Collections.Generic;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// The reference capture device of the runtime tests: one single-planar GREY format, buffers of any of the three
/// memory types (MMAP, SHARED_PAGES, VIRTIO_OBJECT), and a frame written at each QBUF while streaming (or at
/// STREAMON for the buffers already queued), returned with a DQBUF event. Every byte of frame <c>n</c> of session
/// <c>s</c> is <see cref="Pattern"/>(s, n, offset), so a test can check each frame and tell sessions apart.
/// Subscribing to V4L2_EVENT_FRAME_SYNC yields one event per frame.
/// </summary>
internal sealed class TestCaptureDevice : V4l2DeviceHandler<DeviceIoctlContext>, IDisposable
{
    public const uint MaxBuffers = 32;

    private readonly List<Slot> _slots = new();
    private readonly Queue<int> _queued = new();
    private uint _width = 64;
    private uint _height = 32;
    private uint _memory;
    private bool _streaming;
    private bool _frameSync;
    private uint _sequence;
    private byte[] _frame = Array.Empty<byte>();

    public static byte Pattern(uint sessionId, uint sequence, int offset) => (byte)(offset * 7 + sequence * 13 + sessionId * 101 + (offset >> 8));

    public static virtio_media_config Config => VirtioMedia.Runtime.Wire.ConfigSpace.Create(
        (uint)(Constants.V4L2_CAP_VIDEO_CAPTURE | Constants.V4L2_CAP_STREAMING), 0, "virtio-media test capture");

    private uint SizeImage => _width * _height;

    public override int VIDIOC_ENUM_FMT(DeviceIoctlContext context, ref v4l2_fmtdesc payload)
    {
        if (payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE || payload.index != 0)
        {
            return Constants.EINVAL;
        }
        payload.pixelformat = Constants.V4L2_PIX_FMT_GREY;
        payload.flags = 0;
        "8-bit greyscale"u8.CopyTo(payload.description);
        return 0;
    }

    public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload)
    {
        if (payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE)
        {
            return Constants.EINVAL;
        }
        FillFormat(ref payload.fmt.pix, _width, _height);
        return 0;
    }

    public override int VIDIOC_TRY_FMT(DeviceIoctlContext context, ref v4l2_format payload)
    {
        if (payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE)
        {
            return Constants.EINVAL;
        }
        FillFormat(ref payload.fmt.pix, Math.Clamp(payload.fmt.pix.width, 16, 256), Math.Clamp(payload.fmt.pix.height, 16, 256));
        return 0;
    }

    public override int VIDIOC_S_FMT(DeviceIoctlContext context, ref v4l2_format payload)
    {
        if (_slots.Count > 0)
        {
            return Constants.EBUSY;
        }
        var status = VIDIOC_TRY_FMT(context, ref payload);
        if (status == 0)
        {
            _width = payload.fmt.pix.width;
            _height = payload.fmt.pix.height;
        }
        return status;
    }

    public override int VIDIOC_REQBUFS(DeviceIoctlContext context, ref v4l2_requestbuffers payload)
    {
        if (payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE || _streaming)
        {
            return payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE ? Constants.EINVAL : Constants.EBUSY;
        }
        if (payload.memory is not (Constants.V4L2_MEMORY_MMAP or Constants.V4L2_MEMORY_USERPTR or Constants.V4L2_MEMORY_DMABUF))
        {
            return Constants.EINVAL;
        }
        ReleaseBuffers(context.Mmap);
        _memory = payload.memory;
        var count = Math.Min(payload.count, MaxBuffers);
        for (var i = 0; i < count; i++)
        {
            var slot = new Slot { Pages = new GuestScatterList(context.GuestMemory) };
            if (_memory == Constants.V4L2_MEMORY_MMAP)
            {
                slot.Mmap = context.Mmap.Allocate(context.Session, SizeImage);
                if (slot.Mmap is null)
                {
                    ReleaseBuffers(context.Mmap);
                    return Constants.ENOMEM;
                }
            }
            _slots.Add(slot);
        }
        payload.count = count;
        payload.capabilities = (uint)(Constants.V4L2_BUF_CAP_SUPPORTS_MMAP | Constants.V4L2_BUF_CAP_SUPPORTS_USERPTR | Constants.V4L2_BUF_CAP_SUPPORTS_DMABUF);
        return 0;
    }

    public override int VIDIOC_QUERYBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        if (payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE || payload.index >= _slots.Count)
        {
            return Constants.EINVAL;
        }
        var slot = _slots[(int)payload.index];
        payload.memory = _memory;
        payload.length = SizeImage;
        payload.flags = slot.Queued ? (uint)Constants.V4L2_BUF_FLAG_QUEUED : 0;
        if (_memory == Constants.V4L2_MEMORY_MMAP)
        {
            payload.m.offset = slot.Mmap!.MemOffset;
            payload.flags |= (uint)Constants.V4L2_BUF_FLAG_MAPPED;
        }
        return 0;
    }

    public override int VIDIOC_QBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        if (payload.type != Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE || payload.index >= _slots.Count || payload.memory != _memory)
        {
            return Constants.EINVAL;
        }
        var slot = _slots[(int)payload.index];
        if (slot.Queued)
        {
            return Constants.EINVAL;
        }
        switch (_memory)
        {
            case Constants.V4L2_MEMORY_USERPTR:
                if (payload.length < SizeImage || !context.LoadSharedPages(0, slot.Pages).IsSuccess || slot.Pages.Length < SizeImage)
                {
                    return Constants.EFAULT;
                }
                break;
            case Constants.V4L2_MEMORY_DMABUF:
                if (context.UuidCount != 1 || !context.Objects.TryResolve(context.GetUuid(0), out var obj) || obj.Length < SizeImage)
                {
                    return Constants.EINVAL;
                }
                slot.Object = obj;
                break;
        }
        slot.Queued = true;
        slot.Request = payload;
        payload.flags |= (uint)Constants.V4L2_BUF_FLAG_QUEUED;
        _queued.Enqueue((int)payload.index);
        if (_streaming)
        {
            ProduceFrames(context.Session);
        }
        return 0;
    }

    public override int VIDIOC_STREAMON(DeviceIoctlContext context, ref int payload)
    {
        if (payload != (int)Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE || _slots.Count == 0)
        {
            return Constants.EINVAL;
        }
        _streaming = true;
        ProduceFrames(context.Session);
        return 0;
    }

    public override int VIDIOC_STREAMOFF(DeviceIoctlContext context, ref int payload)
    {
        if (payload != (int)Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE)
        {
            return Constants.EINVAL;
        }
        _streaming = false;
        // As in V4L2, buffers still queued go back to the driver without being dequeued.
        while (_queued.TryDequeue(out var index))
        {
            _slots[index].Queued = false;
        }
        return 0;
    }

    public override int VIDIOC_EXPBUF(DeviceIoctlContext context, ref v4l2_exportbuffer payload)
    {
        if (_memory != Constants.V4L2_MEMORY_MMAP || payload.index >= _slots.Count || payload.plane != 0)
        {
            return Constants.EINVAL;
        }
        if (!context.Objects.TryExport(_slots[(int)payload.index].Mmap!, out var uuid))
        {
            return Constants.EINVAL;
        }
        context.SetUuid(0, uuid);
        return 0;
    }

    public override int VIDIOC_SUBSCRIBE_EVENT(DeviceIoctlContext context, ref v4l2_event_subscription payload)
    {
        if (payload.type != Constants.V4L2_EVENT_FRAME_SYNC)
        {
            return Constants.EINVAL;
        }
        _frameSync = true;
        return 0;
    }

    public void Dispose()
    {
        _slots.Clear();
        _queued.Clear();
    }

    private void ProduceFrames(DeviceSession session)
    {
        var size = (int)SizeImage;
        if (_frame.Length != size)
        {
            _frame = new byte[size];
        }
        while (_queued.TryDequeue(out var index))
        {
            var slot = _slots[index];
            var sequence = _sequence++;
            for (var i = 0; i < size; i++)
            {
                _frame[i] = Pattern(session.Id, sequence, i);
            }
            switch (_memory)
            {
                case Constants.V4L2_MEMORY_MMAP:
                    _frame.CopyTo(slot.Mmap!.Span);
                    break;
                case Constants.V4L2_MEMORY_USERPTR:
                    slot.Pages.TryWrite(0, _frame);
                    break;
                default:
                    _frame.CopyTo(slot.Object.Span);
                    break;
            }
            slot.Queued = false;
            var done = slot.Request;
            done.bytesused = SizeImage;
            done.sequence = sequence;
            done.field = Constants.V4L2_FIELD_NONE;
            done.flags = (uint)(Constants.V4L2_BUF_FLAG_DONE | Constants.V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC);
            if (_frameSync)
            {
                var sync = new v4l2_event { type = Constants.V4L2_EVENT_FRAME_SYNC, sequence = sequence };
                sync.u.frame_sync.frame_sequence = sequence;
                session.EmitEvent(sync);
            }
            session.EmitDqbuf(done);
        }
    }

    private void ReleaseBuffers(MmapAllocator mmap)
    {
        foreach (var slot in _slots)
        {
            if (slot.Mmap is not null)
            {
                mmap.Release(slot.Mmap);
            }
        }
        _slots.Clear();
        _queued.Clear();
    }

    private static void FillFormat(ref v4l2_pix_format pix, uint width, uint height)
    {
        pix.width = width;
        pix.height = height;
        pix.pixelformat = Constants.V4L2_PIX_FMT_GREY;
        pix.field = Constants.V4L2_FIELD_NONE;
        pix.bytesperline = width;
        pix.sizeimage = width * height;
        pix.colorspace = Constants.V4L2_COLORSPACE_RAW;
    }

    private sealed class Slot
    {
        public MmapBuffer? Mmap;
        public GuestScatterList Pages = null!;
        public VirtioObject Object;
        public bool Queued;
        public v4l2_buffer Request;
    }
}
