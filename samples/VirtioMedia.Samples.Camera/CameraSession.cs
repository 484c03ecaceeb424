using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Samples.Camera;

/// <summary>
/// One open session of the <see cref="VirtualCamera"/>: its formats (one per buffer type), frame interval,
/// buffers and stream. Frames are rendered by a producer task per stream, at the frame interval or, with
/// <see cref="CameraOptions.Fast"/>, as soon as a buffer is queued. The frame index rendered into a buffer is the
/// <c>sequence</c> its DQBUF carries; the controls are those in effect when rendering starts, so a buffer queued
/// after a control change returns already shows it.
/// </summary>
public sealed class CameraSession : V4l2DeviceHandler<DeviceIoctlContext>, IDisposable
{
    /// <summary>The most buffers REQBUFS grants.</summary>
    public const uint MaxBuffers = 16;

    private const uint CaptureType = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE;
    private const uint MultiPlanarType = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
    private const uint MemoryMmap = Constants.V4L2_MEMORY_MMAP;
    private const uint MemoryUserPtr = Constants.V4L2_MEMORY_USERPTR;
    private const uint MemoryDmaBuf = Constants.V4L2_MEMORY_DMABUF;

    private readonly VirtualCamera _camera;
    private readonly DeviceSession _session;
    // Guards formats, buffers and the stream: ioctls run on the session's turn, frames on the producer task.
    private readonly object _gate = new();
    private readonly object _subscriptionGate = new();
    private readonly Dictionary<uint, uint> _controlSubscriptions = new();
    private readonly List<Slot> _slots = new();
    private readonly Queue<int> _queued = new();
    private readonly byte[][] _staging = [[], []];
    // CameraOptions.FillOnly: the precomputed frame and the format it was rendered for.
    private readonly byte[][] _fill = [[], []];
    private FrameFormat? _fillFormat;
    private FrameFormat _singlePlanar = FrameFormat.Negotiate(CaptureType, Constants.V4L2_PIX_FMT_YUYV, 640, 480);
    private FrameFormat _multiPlanar = FrameFormat.Negotiate(MultiPlanarType, Constants.V4L2_PIX_FMT_NV12M, 640, 480);
    private int _framesPerSecond = CameraFormats.FrameRates[0];
    private uint _bufferType;
    private uint _memory;
    private bool _streaming;
    private bool _finished;
    private int _generation;
    private uint _sequence;
    private SemaphoreSlim? _wake;
    private CancellationTokenSource? _stop;
    private bool _eosSubscribed;
    private int _eventSequence;
    private bool _disposed;

    internal CameraSession(VirtualCamera camera, DeviceSession session)
    {
        _camera = camera;
        _session = session;
    }

    /// <summary>Frames rendered by this session so far.</summary>
    public long FramesProduced { get; private set; }

    // ---- formats ----

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FMT(DeviceIoctlContext context, ref v4l2_fmtdesc payload)
    {
        if (payload.type is not (CaptureType or MultiPlanarType))
        {
            return Constants.EINVAL;
        }
        var multiPlanar = payload.type == MultiPlanarType;
        var index = payload.index;
        foreach (var format in CameraFormats.PixelFormats)
        {
            if (CameraFormats.IsMultiPlanar(format) != multiPlanar)
            {
                continue;
            }
            if (index-- == 0)
            {
                payload.pixelformat = format;
                payload.flags = 0;
                payload.mbus_code = 0;
                Span<byte> description = payload.description;
                description.Clear();
                Encoding.ASCII.GetBytes(CameraFormats.Describe(format), description.Slice(0, description.Length - 1));
                return 0;
            }
        }
        return Constants.EINVAL;
    }

    /// <inheritdoc/>
    public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload)
    {
        lock (_gate)
        {
            switch (payload.type)
            {
                case CaptureType:
                    _singlePlanar.Fill(ref payload.fmt.pix);
                    return 0;
                case MultiPlanarType:
                    _multiPlanar.Fill(ref payload.fmt.pix_mp);
                    return 0;
                default:
                    return Constants.EINVAL;
            }
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_TRY_FMT(DeviceIoctlContext context, ref v4l2_format payload) => TryFormat(ref payload, out _);

    /// <inheritdoc/>
    public override int VIDIOC_S_FMT(DeviceIoctlContext context, ref v4l2_format payload)
    {
        lock (_gate)
        {
            if (_slots.Count > 0 && _bufferType == payload.type)
            {
                return Constants.EBUSY;
            }
            var status = TryFormat(ref payload, out var format);
            if (status == 0)
            {
                if (payload.type == CaptureType)
                {
                    _singlePlanar = format;
                }
                else
                {
                    _multiPlanar = format;
                }
            }
            return status;
        }
    }

    private static int TryFormat(ref v4l2_format payload, out FrameFormat format)
    {
        switch (payload.type)
        {
            case CaptureType:
                format = FrameFormat.Negotiate(CaptureType, payload.fmt.pix.pixelformat, payload.fmt.pix.width, payload.fmt.pix.height);
                format.Fill(ref payload.fmt.pix);
                return 0;
            case MultiPlanarType:
                format = FrameFormat.Negotiate(MultiPlanarType, payload.fmt.pix_mp.pixelformat, payload.fmt.pix_mp.width, payload.fmt.pix_mp.height);
                format.Fill(ref payload.fmt.pix_mp);
                return 0;
            default:
                format = default;
                return Constants.EINVAL;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FRAMESIZES(DeviceIoctlContext context, ref v4l2_frmsizeenum payload)
    {
        if (!CameraFormats.IsSupported(payload.pixel_format) || payload.index >= CameraFormats.FrameSizes.Count)
        {
            return Constants.EINVAL;
        }
        var (width, height) = CameraFormats.FrameSizes[(int)payload.index];
        payload.type = Constants.V4L2_FRMSIZE_TYPE_DISCRETE;
        payload.discrete.width = (uint)width;
        payload.discrete.height = (uint)height;
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_ENUM_FRAMEINTERVALS(DeviceIoctlContext context, ref v4l2_frmivalenum payload)
    {
        // Any size S_FMT would keep unchanged has the same intervals.
        if (!CameraFormats.IsSupported(payload.pixel_format) || payload.index >= CameraFormats.FrameRates.Count
            || CameraFormats.ClampSize(payload.width, payload.height) != ((int)payload.width, (int)payload.height))
        {
            return Constants.EINVAL;
        }
        payload.type = Constants.V4L2_FRMIVAL_TYPE_DISCRETE;
        payload.discrete.numerator = 1;
        payload.discrete.denominator = (uint)CameraFormats.FrameRates[(int)payload.index];
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_G_PARM(DeviceIoctlContext context, ref v4l2_streamparm payload)
    {
        if (payload.type is not (CaptureType or MultiPlanarType))
        {
            return Constants.EINVAL;
        }
        lock (_gate)
        {
            FillParm(ref payload.parm.capture);
        }
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_S_PARM(DeviceIoctlContext context, ref v4l2_streamparm payload)
    {
        if (payload.type is not (CaptureType or MultiPlanarType))
        {
            return Constants.EINVAL;
        }
        ref var interval = ref payload.parm.capture.timeperframe;
        lock (_gate)
        {
            // A zero fraction asks for the nominal rate; otherwise the supported rate nearest the request.
            var rate = CameraFormats.FrameRates[0];
            if (interval.numerator != 0 && interval.denominator != 0)
            {
                var requested = (double)interval.denominator / interval.numerator;
                foreach (var candidate in CameraFormats.FrameRates)
                {
                    if (Math.Abs(candidate - requested) < Math.Abs(rate - requested))
                    {
                        rate = candidate;
                    }
                }
            }
            _framesPerSecond = rate;
            FillParm(ref payload.parm.capture);
        }
        return 0;
    }

    private void FillParm(ref v4l2_captureparm capture)
    {
        capture = default;
        capture.capability = Constants.V4L2_CAP_TIMEPERFRAME;
        capture.timeperframe.numerator = 1;
        capture.timeperframe.denominator = (uint)_framesPerSecond;
    }

    // ---- input ----

    /// <inheritdoc/>
    public override int VIDIOC_ENUMINPUT(DeviceIoctlContext context, ref v4l2_input payload)
    {
        if (payload.index != 0)
        {
            return Constants.EINVAL;
        }
        var index = payload.index;
        payload = default;
        payload.index = index;
        "Test Pattern"u8.CopyTo(payload.name);
        payload.type = Constants.V4L2_INPUT_TYPE_CAMERA;
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_G_INPUT(DeviceIoctlContext context, ref int payload)
    {
        payload = 0;
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_S_INPUT(DeviceIoctlContext context, ref int payload) => payload == 0 ? 0 : Constants.EINVAL;

    // ---- buffers ----

    /// <inheritdoc/>
    public override int VIDIOC_REQBUFS(DeviceIoctlContext context, ref v4l2_requestbuffers payload)
    {
        if (payload.type is not (CaptureType or MultiPlanarType) || payload.memory is not (MemoryMmap or MemoryUserPtr or MemoryDmaBuf))
        {
            return Constants.EINVAL;
        }
        lock (_gate)
        {
            if (_streaming)
            {
                return Constants.EBUSY;
            }
            ReleaseBuffers(context.Mmap);
            _bufferType = payload.type;
            _memory = payload.memory;
            var format = ActiveFormat;
            var count = Math.Min(payload.count, MaxBuffers);
            for (var i = 0; i < count; i++)
            {
                var slot = new Slot(format.PlaneCount, context.GuestMemory);
                if (_memory == MemoryMmap)
                {
                    for (var plane = 0; plane < format.PlaneCount; plane++)
                    {
                        var buffer = context.Mmap.Allocate(context.Session, (ulong)format.PlaneSize(plane));
                        if (buffer is null)
                        {
                            _slots.Add(slot);
                            ReleaseBuffers(context.Mmap);
                            return Constants.ENOMEM;
                        }
                        slot.Mmap[plane] = buffer;
                    }
                }
                _slots.Add(slot);
            }
            payload.count = count;
            payload.capabilities = (uint)(Constants.V4L2_BUF_CAP_SUPPORTS_MMAP | Constants.V4L2_BUF_CAP_SUPPORTS_USERPTR | Constants.V4L2_BUF_CAP_SUPPORTS_DMABUF);
            return 0;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_QUERYBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        lock (_gate)
        {
            if (!TryGetSlot(in payload, out var slot, out var format) || !HasPlaneArray(context, in payload, format))
            {
                return Constants.EINVAL;
            }
            payload.memory = _memory;
            payload.flags = slot.Queued ? (uint)Constants.V4L2_BUF_FLAG_QUEUED : 0;
            payload.field = Constants.V4L2_FIELD_NONE;
            if (_memory == MemoryMmap)
            {
                payload.flags |= (uint)Constants.V4L2_BUF_FLAG_MAPPED;
            }
            if (format.PlaneCount == 1 && _bufferType == CaptureType)
            {
                payload.length = (uint)format.PlaneSize0;
                if (_memory == MemoryMmap)
                {
                    payload.m.offset = slot.Mmap[0]!.MemOffset;
                }
                return 0;
            }
            payload.length = (uint)format.PlaneCount;
            var planes = context.Planes;
            for (var plane = 0; plane < format.PlaneCount; plane++)
            {
                planes[plane].length = (uint)format.PlaneSize(plane);
                planes[plane].bytesused = 0;
                planes[plane].data_offset = 0;
                if (_memory == MemoryMmap)
                {
                    planes[plane].m.mem_offset = slot.Mmap[plane]!.MemOffset;
                }
            }
            return 0;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_QBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
    {
        lock (_gate)
        {
            if (!TryGetSlot(in payload, out var slot, out var format) || payload.memory != _memory || slot.Queued
                || !HasPlaneArray(context, in payload, format))
            {
                return Constants.EINVAL;
            }
            var multiPlanar = _bufferType == MultiPlanarType;
            var planes = context.Planes;
            switch (_memory)
            {
                case MemoryUserPtr:
                    if (context.SgListCount != format.PlaneCount)
                    {
                        return Constants.EINVAL;
                    }
                    for (var plane = 0; plane < format.PlaneCount; plane++)
                    {
                        var declared = multiPlanar ? planes[plane].length : payload.length;
                        var pages = slot.Pages[plane];
                        if (declared < format.PlaneSize(plane) || !context.LoadSharedPages(plane, pages).IsSuccess || pages.Length < (ulong)format.PlaneSize(plane))
                        {
                            return Constants.EFAULT;
                        }
                    }
                    break;
                case MemoryDmaBuf:
                    if (context.UuidCount != format.PlaneCount)
                    {
                        return Constants.EINVAL;
                    }
                    for (var plane = 0; plane < format.PlaneCount; plane++)
                    {
                        if (!context.Objects.TryResolve(context.GetUuid(plane), out var obj) || obj.Length < (ulong)format.PlaneSize(plane))
                        {
                            return Constants.EINVAL;
                        }
                        slot.Objects[plane] = obj;
                    }
                    break;
            }
            slot.Queued = true;
            slot.Request = payload;
            for (var plane = 0; plane < planes.Length && plane < slot.Planes.Length; plane++)
            {
                slot.Planes[plane] = planes[plane];
            }
            payload.flags = (payload.flags & ~(uint)(Constants.V4L2_BUF_FLAG_DONE)) | (uint)Constants.V4L2_BUF_FLAG_QUEUED;
            _queued.Enqueue((int)payload.index);
            if (_streaming && _camera.Options.Fast)
            {
                _wake?.Release();
            }
            return 0;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_EXPBUF(DeviceIoctlContext context, ref v4l2_exportbuffer payload)
    {
        lock (_gate)
        {
            if (payload.type != _bufferType || _memory != MemoryMmap || payload.index >= _slots.Count || payload.plane >= ActiveFormat.PlaneCount)
            {
                return Constants.EINVAL;
            }
            if (!context.Objects.TryExport(_slots[(int)payload.index].Mmap[payload.plane]!, out var uuid))
            {
                return Constants.EINVAL;
            }
            context.SetUuid(0, uuid);
            return 0;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_STREAMON(DeviceIoctlContext context, ref int payload)
    {
        lock (_gate)
        {
            if ((uint)payload != _bufferType || _slots.Count == 0)
            {
                return Constants.EINVAL;
            }
            if (_streaming)
            {
                return 0;
            }
            _streaming = true;
            _finished = false;
            _sequence = 0;
            var generation = ++_generation;
            var queued = _queued.Count;
            _wake = new SemaphoreSlim(queued);
            _stop = new CancellationTokenSource();
            var interval = TimeSpan.FromSeconds(1.0 / _framesPerSecond);
            var wake = _wake;
            var token = _stop.Token;
            _ = Task.Run(() => ProduceAsync(generation, wake, interval, token), CancellationToken.None);
            return 0;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_STREAMOFF(DeviceIoctlContext context, ref int payload)
    {
        if ((uint)payload is not (CaptureType or MultiPlanarType))
        {
            return Constants.EINVAL;
        }
        lock (_gate)
        {
            if ((uint)payload != _bufferType && _slots.Count > 0)
            {
                return Constants.EINVAL;
            }
            var wasStreaming = _streaming;
            StopStream();
            if (wasStreaming)
            {
                EmitEndOfStream();
            }
            return 0;
        }
    }

    // ---- controls ----

    /// <inheritdoc/>
    public override int VIDIOC_QUERYCTRL(DeviceIoctlContext context, ref v4l2_queryctrl payload)
    {
        var control = FindForQuery(payload.id);
        if (control is null)
        {
            return Constants.EINVAL;
        }
        payload = default;
        payload.id = control.Id;
        payload.type = (uint)control.Type;
        Encoding.ASCII.GetBytes(control.Name, ((Span<byte>)payload.name).Slice(0, 31));
        payload.minimum = control.Minimum;
        payload.maximum = control.Maximum;
        payload.step = control.Step;
        payload.default_value = control.Default;
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_QUERY_EXT_CTRL(DeviceIoctlContext context, ref v4l2_query_ext_ctrl payload)
    {
        var control = FindForQuery(payload.id);
        if (control is null)
        {
            return Constants.EINVAL;
        }
        payload = default;
        payload.id = control.Id;
        payload.type = (uint)control.Type;
        Encoding.ASCII.GetBytes(control.Name, ((Span<byte>)payload.name).Slice(0, 31));
        payload.minimum = control.Minimum;
        payload.maximum = control.Maximum;
        payload.step = (ulong)control.Step;
        payload.default_value = control.Default;
        payload.elem_size = sizeof(int);
        payload.elems = 1;
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_QUERYMENU(DeviceIoctlContext context, ref v4l2_querymenu payload) => Constants.EINVAL; // no menu controls

    /// <inheritdoc/>
    public override int VIDIOC_G_CTRL(DeviceIoctlContext context, ref v4l2_control payload)
    {
        var control = CameraControl.Find(payload.id);
        if (control is null)
        {
            return Constants.EINVAL;
        }
        payload.value = control.Read(_camera.Controls);
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_S_CTRL(DeviceIoctlContext context, ref v4l2_control payload)
    {
        var control = CameraControl.Find(payload.id);
        if (control is null)
        {
            return Constants.EINVAL;
        }
        if (!control.Accepts(payload.value))
        {
            return Constants.ERANGE;
        }
        _camera.SetControls(this, [(control, payload.value)]);
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_G_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload)
    {
        var controls = context.Controls;
        if (!IsUserClass(payload.which, allowDefault: true))
        {
            payload.error_idx = payload.count;
            return Constants.EINVAL;
        }
        var current = _camera.Controls;
        for (var i = 0; i < controls.Length; i++)
        {
            var control = FindInClass(controls[i].id, payload.which);
            if (control is null)
            {
                payload.error_idx = (uint)i;
                return Constants.EINVAL;
            }
            controls[i].value = payload.which == Constants.V4L2_CTRL_WHICH_DEF_VAL ? control.Default : control.Read(current);
        }
        return 0;
    }

    /// <inheritdoc/>
    public override int VIDIOC_TRY_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload)
    {
        var status = Validate(context.Controls, ref payload, allowDefault: true, out var failed);
        if (status != 0)
        {
            // TRY reports the control that failed.
            payload.error_idx = (uint)failed;
        }
        return status;
    }

    /// <inheritdoc/>
    public override int VIDIOC_S_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload)
    {
        var controls = context.Controls;
        var status = Validate(controls, ref payload, allowDefault: false, out _);
        if (status != 0)
        {
            // A failure while validating changed nothing: the specification asks for error_idx = count then.
            payload.error_idx = payload.count;
            return status;
        }
        var values = new (CameraControl, int)[controls.Length];
        for (var i = 0; i < controls.Length; i++)
        {
            values[i] = (CameraControl.Find(controls[i].id)!, controls[i].value);
        }
        _camera.SetControls(this, values);
        return 0;
    }

    private static int Validate(Span<v4l2_ext_control> controls, ref v4l2_ext_controls payload, bool allowDefault, out int failed)
    {
        failed = (int)payload.count;
        if (!IsUserClass(payload.which, allowDefault) || payload.which == Constants.V4L2_CTRL_WHICH_DEF_VAL)
        {
            return Constants.EINVAL;
        }
        for (var i = 0; i < controls.Length; i++)
        {
            var control = FindInClass(controls[i].id, payload.which);
            if (control is null)
            {
                failed = i;
                return Constants.EINVAL;
            }
            if (!control.Accepts(controls[i].value))
            {
                failed = i;
                return Constants.ERANGE;
            }
        }
        return 0;
    }

    // `which` is the current value, the default value, or (the older form) the user control class itself.
    private static bool IsUserClass(uint which, bool allowDefault) =>
        which == Constants.V4L2_CTRL_WHICH_CUR_VAL || which == Constants.V4L2_CTRL_CLASS_USER
        || (allowDefault && which == Constants.V4L2_CTRL_WHICH_DEF_VAL);

    private static CameraControl? FindInClass(uint id, uint which)
    {
        if (which == Constants.V4L2_CTRL_CLASS_USER && (id & 0x0FFF0000) != Constants.V4L2_CTRL_CLASS_USER)
        {
            return null;
        }
        return CameraControl.Find(id);
    }

    private static CameraControl? FindForQuery(uint id)
    {
        const uint nextFlags = Constants.V4L2_CTRL_FLAG_NEXT_CTRL | Constants.V4L2_CTRL_FLAG_NEXT_COMPOUND;
        if ((id & Constants.V4L2_CTRL_FLAG_NEXT_CTRL) != 0)
        {
            return CameraControl.Next(id & ~nextFlags);
        }
        // Only NEXT_COMPOUND: there are no compound controls.
        return (id & nextFlags) != 0 ? null : CameraControl.Find(id);
    }

    // ---- events ----

    /// <inheritdoc/>
    public override int VIDIOC_SUBSCRIBE_EVENT(DeviceIoctlContext context, ref v4l2_event_subscription payload)
    {
        switch (payload.type)
        {
            case Constants.V4L2_EVENT_CTRL:
                var control = CameraControl.Find(payload.id);
                if (control is null)
                {
                    return Constants.EINVAL;
                }
                lock (_subscriptionGate)
                {
                    _controlSubscriptions[control.Id] = payload.flags;
                }
                if ((payload.flags & Constants.V4L2_EVENT_SUB_FL_SEND_INITIAL) != 0)
                {
                    EmitControlEvent(control, control.Read(_camera.Controls));
                }
                return 0;
            case Constants.V4L2_EVENT_EOS:
                lock (_subscriptionGate)
                {
                    _eosSubscribed = true;
                }
                return 0;
            default:
                return Constants.EINVAL;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_UNSUBSCRIBE_EVENT(DeviceIoctlContext context, ref v4l2_event_subscription payload)
    {
        lock (_subscriptionGate)
        {
            switch (payload.type)
            {
                case Constants.V4L2_EVENT_ALL:
                    _controlSubscriptions.Clear();
                    _eosSubscribed = false;
                    return 0;
                case Constants.V4L2_EVENT_CTRL:
                    _controlSubscriptions.Remove(payload.id);
                    return 0;
                case Constants.V4L2_EVENT_EOS:
                    _eosSubscribed = false;
                    return 0;
                default:
                    return Constants.EINVAL;
            }
        }
    }

    /// <summary>A control changed (through any session): tell this one if it subscribed.</summary>
    internal void AnnounceControl(CameraControl control, int value, CameraSession origin)
    {
        lock (_subscriptionGate)
        {
            if (!_controlSubscriptions.TryGetValue(control.Id, out var flags)
                || (origin == this && (flags & Constants.V4L2_EVENT_SUB_FL_ALLOW_FEEDBACK) == 0))
            {
                return;
            }
        }
        EmitControlEvent(control, value);
    }

    private void EmitControlEvent(CameraControl control, int value)
    {
        var ev = NewEvent(Constants.V4L2_EVENT_CTRL);
        ev.id = control.Id;
        ref var ctrl = ref ev.u.ctrl;
        ctrl.changes = Constants.V4L2_EVENT_CTRL_CH_VALUE;
        ctrl.type = (uint)control.Type;
        ctrl.value = value;
        ctrl.minimum = control.Minimum;
        ctrl.maximum = control.Maximum;
        ctrl.step = control.Step;
        ctrl.default_value = control.Default;
        _session.EmitEvent(ev);
    }

    private void EmitEndOfStream()
    {
        bool subscribed;
        lock (_subscriptionGate)
        {
            subscribed = _eosSubscribed;
        }
        if (subscribed)
        {
            _session.EmitEvent(NewEvent(Constants.V4L2_EVENT_EOS));
        }
    }

    private v4l2_event NewEvent(uint type)
    {
        var ev = new v4l2_event { type = type, sequence = (uint)(Interlocked.Increment(ref _eventSequence) - 1) };
        var nanoseconds = Monotonic();
        ev.timestamp.tv_sec = nanoseconds / 1_000_000_000;
        ev.timestamp.tv_nsec = nanoseconds % 1_000_000_000;
        return ev;
    }

    private static long Monotonic() => (long)(Stopwatch.GetTimestamp() * (1_000_000_000.0 / Stopwatch.Frequency));

    // ---- frames ----

    private FrameFormat ActiveFormat => _bufferType == MultiPlanarType ? _multiPlanar : _singlePlanar;

    private async Task ProduceAsync(int generation, SemaphoreSlim wake, TimeSpan interval, CancellationToken cancellationToken)
    {
        try
        {
            if (_camera.Options.Fast)
            {
                while (true)
                {
                    await wake.WaitAsync(cancellationToken).ConfigureAwait(false);
                    if (ProduceFrame(generation) == Production.Stopped)
                    {
                        return;
                    }
                }
            }
            using var timer = new PeriodicTimer(interval);
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                if (ProduceFrame(generation) == Production.Stopped)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
            // The session closed under the producer: its buffers are gone.
        }
    }

    private enum Production
    {
        Produced,
        NoBuffer,
        Stopped,
    }

    private Production ProduceFrame(int generation)
    {
        lock (_gate)
        {
            if (!_streaming || _finished || generation != _generation || _session.State != DeviceSessionState.Open)
            {
                return Production.Stopped;
            }
            // Without a queued buffer the frame is skipped and the sequence does not advance.
            if (!_queued.TryDequeue(out var index))
            {
                return Production.NoBuffer;
            }
            var slot = _slots[index];
            var format = ActiveFormat;
            var frame = _sequence++;
            var controls = _camera.Controls;
            Render(slot, format, frame, controls);
            FramesProduced++;
            slot.Queued = false;
            var last = _camera.Options.FrameLimit > 0 && frame + 1 >= _camera.Options.FrameLimit;
            Complete(slot, format, frame, last);
            if (last)
            {
                _finished = true;
                EmitEndOfStream();
                return Production.Stopped;
            }
            return Production.Produced;
        }
    }

    private void Render(Slot slot, FrameFormat format, uint frame, in PatternControls controls)
    {
        Span<int> strides = [format.BytesPerLine0, format.BytesPerLine1];
        var planes = strides.Slice(0, format.PlaneCount);
        if (_camera.Options.FillOnly)
        {
            Fill(slot, format, planes);
            return;
        }
        switch (_memory)
        {
            case MemoryMmap:
                TestPattern.Render(format.Pixelformat, format.Width, format.Height, planes, frame, controls,
                    slot.Mmap[0]!.Span, format.PlaneCount > 1 ? slot.Mmap[1]!.Span : default);
                break;
            case MemoryDmaBuf:
                TestPattern.Render(format.Pixelformat, format.Width, format.Height, planes, frame, controls,
                    slot.Objects[0].Span, format.PlaneCount > 1 ? slot.Objects[1].Span : default);
                break;
            default:
                // Guest pages are scattered: render into a staging copy, then write it through the SG list.
                for (var plane = 0; plane < format.PlaneCount; plane++)
                {
                    if (_staging[plane].Length < format.PlaneSize(plane))
                    {
                        _staging[plane] = new byte[format.PlaneSize(plane)];
                    }
                }
                TestPattern.Render(format.Pixelformat, format.Width, format.Height, planes, frame, controls,
                    _staging[0].AsSpan(0, format.PlaneSize0), _staging[1].AsSpan(0, format.PlaneSize1));
                for (var plane = 0; plane < format.PlaneCount; plane++)
                {
                    slot.Pages[plane].TryWrite(0, _staging[plane].AsSpan(0, format.PlaneSize(plane)));
                }
                break;
        }
    }

    private void Fill(Slot slot, FrameFormat format, ReadOnlySpan<int> strides)
    {
        if (_fillFormat != format)
        {
            for (var plane = 0; plane < format.PlaneCount; plane++)
            {
                _fill[plane] = new byte[format.PlaneSize(plane)];
            }
            TestPattern.Render(format.Pixelformat, format.Width, format.Height, strides, 0, PatternControls.Default,
                _fill[0], format.PlaneCount > 1 ? _fill[1] : default);
            _fillFormat = format;
        }
        for (var plane = 0; plane < format.PlaneCount; plane++)
        {
            var source = _fill[plane].AsSpan(0, format.PlaneSize(plane));
            switch (_memory)
            {
                case MemoryMmap:
                    source.CopyTo(slot.Mmap[plane]!.Span);
                    break;
                case MemoryDmaBuf:
                    source.CopyTo(slot.Objects[plane].Span);
                    break;
                default:
                    slot.Pages[plane].TryWrite(0, source);
                    break;
            }
        }
    }

    private void Complete(Slot slot, FrameFormat format, uint frame, bool last)
    {
        var done = slot.Request;
        done.sequence = frame;
        done.field = Constants.V4L2_FIELD_NONE;
        done.flags = (done.flags & ~(uint)(Constants.V4L2_BUF_FLAG_QUEUED | Constants.V4L2_BUF_FLAG_LAST))
            | (uint)(Constants.V4L2_BUF_FLAG_DONE | Constants.V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC);
        if (last)
        {
            done.flags |= (uint)Constants.V4L2_BUF_FLAG_LAST;
        }
        var microseconds = Monotonic() / 1000;
        done.timestamp.tv_sec = microseconds / 1_000_000;
        done.timestamp.tv_usec = microseconds % 1_000_000;
        if (_bufferType == CaptureType)
        {
            done.bytesused = (uint)format.PlaneSize0;
            if (_memory == MemoryMmap)
            {
                done.m.offset = slot.Mmap[0]!.MemOffset;
            }
            _session.EmitDqbuf(done);
            return;
        }
        done.length = (uint)format.PlaneCount;
        Span<v4l2_plane> planes = slot.Planes.AsSpan(0, format.PlaneCount);
        for (var plane = 0; plane < planes.Length; plane++)
        {
            planes[plane].bytesused = (uint)format.PlaneSize(plane);
            planes[plane].length = Math.Max(planes[plane].length, (uint)format.PlaneSize(plane));
            planes[plane].data_offset = 0;
            if (_memory == MemoryMmap)
            {
                planes[plane].m.mem_offset = slot.Mmap[plane]!.MemOffset;
            }
        }
        _session.EmitDqbuf(done, planes);
    }

    private bool TryGetSlot(in v4l2_buffer payload, out Slot slot, out FrameFormat format)
    {
        format = ActiveFormat;
        if (payload.type != _bufferType || payload.index >= _slots.Count)
        {
            slot = null!;
            return false;
        }
        slot = _slots[(int)payload.index];
        return true;
    }

    // A multi-planar v4l2_buffer must carry one v4l2_plane per plane.
    private bool HasPlaneArray(DeviceIoctlContext context, in v4l2_buffer payload, FrameFormat format) =>
        _bufferType != MultiPlanarType || (payload.length >= format.PlaneCount && context.Planes.Length >= format.PlaneCount);

    private void StopStream()
    {
        _streaming = false;
        _finished = false;
        _generation++;
        _stop?.Cancel();
        _stop?.Dispose();
        _stop = null;
        _wake = null;
        // As in V4L2, buffers still queued return to the driver without being dequeued.
        while (_queued.TryDequeue(out var index))
        {
            _slots[index].Queued = false;
        }
    }

    private void ReleaseBuffers(MmapAllocator mmap)
    {
        foreach (var slot in _slots)
        {
            foreach (var buffer in slot.Mmap)
            {
                if (buffer is not null)
                {
                    mmap.Release(buffer);
                }
            }
        }
        _slots.Clear();
        _queued.Clear();
    }

    /// <summary>Stops the stream; returns once no frame is being rendered.</summary>
    internal void StopStreaming()
    {
        lock (_gate)
        {
            StopStream();
        }
    }

    /// <summary>Stops the stream and lets the buffers go when the session closes.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            StopStream();
            ReleaseBuffers(_session.Endpoint.Mmap);
        }
        _camera.Forget(this);
    }

    private sealed class Slot
    {
        public Slot(int planes, VirtioMedia.Runtime.Memory.GuestMemory memory)
        {
            Mmap = new MmapBuffer?[planes];
            Pages = new GuestScatterList[planes];
            for (var i = 0; i < planes; i++)
            {
                Pages[i] = new GuestScatterList(memory);
            }
            Objects = new VirtioObject[planes];
            Planes = new v4l2_plane[Constants.VIRTIO_MEDIA_MAX_PLANES];
        }

        public MmapBuffer?[] Mmap { get; }

        public GuestScatterList[] Pages { get; }

        public VirtioObject[] Objects { get; }

        public v4l2_plane[] Planes { get; }

        public bool Queued { get; set; }

        public v4l2_buffer Request { get; set; }
    }
}
