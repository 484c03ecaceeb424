using System;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;

namespace VirtioMedia.Samples.Guest;

/// <summary>
/// The capture buffers of one memory type: requests them, queues buffer i, and reads a returned frame's planes.
/// One subclass per memory type; what differs is only what a QBUF carries and where the bytes are read.
/// </summary>
internal abstract class CaptureBuffers
{
    private const int PlaneStructSize = 64; // sizeof(struct v4l2_plane)

    private readonly byte[] _planes;

    protected CaptureBuffers(DriverSession session, FrameLayout layout, uint memory)
    {
        Session = session;
        Layout = layout;
        Memory = memory;
        _planes = new byte[layout.PlaneCount * PlaneStructSize];
    }

    /// <summary>How many buffers the device granted.</summary>
    public int Count { get; private set; }

    protected DriverSession Session { get; }

    protected FrameLayout Layout { get; }

    protected uint Memory { get; }

    /// <summary>Creates and sets up the buffers of <paramref name="kind"/>.</summary>
    public static async Task<CaptureBuffers> CreateAsync(CaptureMemory kind, DriverSession session, FrameLayout layout, int count, CancellationToken cancellationToken)
    {
        CaptureBuffers buffers = kind switch
        {
            CaptureMemory.Mmap => new MmapCaptureBuffers(session, layout),
            CaptureMemory.UserPtr => new SharedPagesCaptureBuffers(session, layout),
            _ => new ObjectCaptureBuffers(session, layout),
        };
        await buffers.SetUpAsync(count, cancellationToken).ConfigureAwait(false);
        return buffers;
    }

    /// <summary>VIDIOC_QBUF of buffer <paramref name="index"/>.</summary>
    public async ValueTask QueueAsync(uint index, CancellationToken cancellationToken)
    {
        var buffer = new v4l2_buffer { index = index, type = Layout.BufferType, memory = Memory };
        var planes = MemoryMarshal.Cast<byte, v4l2_plane>(_planes.AsSpan());
        planes.Clear();
        var extras = new IoctlExtras();
        if (Layout.IsMultiPlanar)
        {
            buffer.length = (uint)Layout.PlaneCount;
            // Any value: the device returns it unchanged and never follows it (the planes travel after the payload).
            buffer.m.planes = 0x7FFF_0000_0000;
            extras.Elements = _planes;
        }
        Describe(index, ref buffer, planes, extras);
        var queued = await Session.VIDIOC_QBUF(buffer, extras, cancellationToken).ConfigureAwait(false);
        Ioctl.Check(queued.Status, $"VIDIOC_QBUF of buffer {index}");
    }

    /// <summary>The bytes of plane <paramref name="plane"/> of buffer <paramref name="index"/> (<paramref name="scratch"/>
    /// holds them when they must be copied out).</summary>
    public abstract ReadOnlySpan<byte> Read(uint index, int plane, byte[] scratch);

    /// <summary>Gives the buffers back to the device (the stream is off).</summary>
    public virtual async ValueTask ReleaseAsync(CancellationToken cancellationToken)
    {
        var freed = await Session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Layout.BufferType, memory = Memory, count = 0 }, null, cancellationToken).ConfigureAwait(false);
        Ioctl.Check(freed.Status, "VIDIOC_REQBUFS(0)");
    }

    /// <summary>Fills in what a QBUF of this memory type carries.</summary>
    protected abstract void Describe(uint index, ref v4l2_buffer buffer, Span<v4l2_plane> planes, IoctlExtras extras);

    protected abstract ValueTask SetUpAsync(int count, CancellationToken cancellationToken);

    /// <summary>VIDIOC_REQBUFS on <paramref name="session"/>; returns and remembers the count the device granted.</summary>
    protected async ValueTask<int> RequestAsync(DriverSession session, uint memory, int count, CancellationToken cancellationToken)
    {
        var request = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Layout.BufferType, memory = memory, count = (uint)count }, null, cancellationToken).ConfigureAwait(false);
        Ioctl.Check(request.Status, $"VIDIOC_REQBUFS({count})");
        if (request.Payload.count is 0 or > 32)
        {
            throw new GuestException(ExitCodes.DeviceError, $"VIDIOC_REQBUFS granted {request.Payload.count} buffers");
        }
        Count = (int)request.Payload.count;
        return Count;
    }

    /// <summary>QUERYBUF of an MMAP buffer and MMAP of each of its planes.</summary>
    protected async ValueTask<MappedBuffer[]> MapAsync(DriverSession session, uint index, bool writable, CancellationToken cancellationToken)
    {
        var buffer = new v4l2_buffer { index = index, type = Layout.BufferType, memory = Constants.V4L2_MEMORY_MMAP };
        var planeBytes = new byte[Layout.PlaneCount * PlaneStructSize];
        var extras = (IoctlExtras?)null;
        if (Layout.IsMultiPlanar)
        {
            buffer.length = (uint)Layout.PlaneCount;
            buffer.m.planes = 0x7FFF_0000_0000;
            extras = new IoctlExtras { Elements = planeBytes };
        }
        var info = await session.VIDIOC_QUERYBUF(buffer, extras, cancellationToken).ConfigureAwait(false);
        Ioctl.Check(info.Status, $"VIDIOC_QUERYBUF of buffer {index}");
        var maps = new MappedBuffer[Layout.PlaneCount];
        var planes = MemoryMarshal.Cast<byte, v4l2_plane>(planeBytes.AsSpan()).ToArray();
        for (var plane = 0; plane < maps.Length; plane++)
        {
            var (offset, length) = Layout.IsMultiPlanar ? (planes[plane].m.mem_offset, planes[plane].length) : (info.Payload.m.offset, info.Payload.length);
            if (length < Layout.PlaneSizes[plane])
            {
                throw new GuestException(ExitCodes.DeviceError, $"buffer {index} plane {plane} is {length} bytes, the format needs {Layout.PlaneSizes[plane]}");
            }
            maps[plane] = await session.MapAsync(offset, writable, cancellationToken).ConfigureAwait(false);
            if (maps[plane].Length < Layout.PlaneSizes[plane])
            {
                throw new GuestException(ExitCodes.DeviceError, $"the mapping of buffer {index} plane {plane} is {maps[plane].Length} bytes, the format needs {Layout.PlaneSizes[plane]}");
            }
        }
        return maps;
    }

    protected static async ValueTask UnmapAllAsync(DriverSession session, MappedBuffer[][] maps, CancellationToken cancellationToken)
    {
        foreach (var buffer in maps)
        {
            foreach (var map in buffer ?? [])
            {
                if (map is not null && !map.IsUnmapped)
                {
                    await session.Endpoint.UnmapAsync(map, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>A made-up guest virtual address for a USERPTR plane: the device returns it and never follows it.</summary>
    protected static ulong FakeUserAddress(uint index, int plane) => 0x7F00_0000_0000UL + index * 0x1000_0000UL + (ulong)plane * 0x0800_0000UL;
}

/// <summary>V4L2_MEMORY_MMAP: the device's buffers, mapped through shared memory region 0.</summary>
internal sealed class MmapCaptureBuffers : CaptureBuffers
{
    private MappedBuffer[][] _maps = [];

    public MmapCaptureBuffers(DriverSession session, FrameLayout layout) : base(session, layout, Constants.V4L2_MEMORY_MMAP)
    {
    }

    public override ReadOnlySpan<byte> Read(uint index, int plane, byte[] scratch) => _maps[index][plane].Span.Slice(0, (int)Layout.PlaneSizes[plane]);

    public override async ValueTask ReleaseAsync(CancellationToken cancellationToken)
    {
        await UnmapAllAsync(Session, _maps, cancellationToken).ConfigureAwait(false);
        await base.ReleaseAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override void Describe(uint index, ref v4l2_buffer buffer, Span<v4l2_plane> planes, IoctlExtras extras)
    {
    }

    protected override async ValueTask SetUpAsync(int count, CancellationToken cancellationToken)
    {
        var granted = await RequestAsync(Session, Memory, count, cancellationToken).ConfigureAwait(false);
        _maps = new MappedBuffer[granted][];
        for (uint i = 0; i < granted; i++)
        {
            _maps[i] = await MapAsync(Session, i, writable: true, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>V4L2_MEMORY_USERPTR: guest pages given to the device as SG lists (virtio-media SHARED_PAGES).</summary>
internal sealed class SharedPagesCaptureBuffers : CaptureBuffers
{
    private SharedPagesBuffer[][] _pages = [];
    private virtio_media_sg_entry[][] _sgLists = [];

    public SharedPagesCaptureBuffers(DriverSession session, FrameLayout layout) : base(session, layout, Constants.V4L2_MEMORY_USERPTR)
    {
    }

    public override ReadOnlySpan<byte> Read(uint index, int plane, byte[] scratch)
    {
        var pages = _pages[index][plane];
        pages.CopyTo(scratch);
        return scratch.AsSpan(0, (int)pages.Length);
    }

    public override async ValueTask ReleaseAsync(CancellationToken cancellationToken)
    {
        await base.ReleaseAsync(cancellationToken).ConfigureAwait(false);
        foreach (var buffer in _pages)
        {
            foreach (var plane in buffer)
            {
                plane.Dispose();
            }
        }
    }

    protected override void Describe(uint index, ref v4l2_buffer buffer, Span<v4l2_plane> planes, IoctlExtras extras)
    {
        if (Layout.IsMultiPlanar)
        {
            for (var plane = 0; plane < Layout.PlaneCount; plane++)
            {
                planes[plane].length = Layout.PlaneSizes[plane];
                planes[plane].m.userptr = FakeUserAddress(index, plane);
            }
        }
        else
        {
            buffer.length = Layout.PlaneSizes[0];
            buffer.m.userptr = FakeUserAddress(index, 0);
        }
        extras.SgEntries = _sgLists[index];
    }

    protected override async ValueTask SetUpAsync(int count, CancellationToken cancellationToken)
    {
        var granted = await RequestAsync(Session, Memory, count, cancellationToken).ConfigureAwait(false);
        _pages = new SharedPagesBuffer[granted][];
        _sgLists = new virtio_media_sg_entry[granted][];
        for (var i = 0; i < granted; i++)
        {
            _pages[i] = new SharedPagesBuffer[Layout.PlaneCount];
            var entries = new System.Collections.Generic.List<virtio_media_sg_entry>();
            for (var plane = 0; plane < Layout.PlaneCount; plane++)
            {
                _pages[i][plane] = Session.Endpoint.AllocateSharedPages(Layout.PlaneSizes[plane]);
                // A recognisable filler: a device that skips a page leaves it visible in the frame check.
                _pages[i][plane].Fill(0xA5);
                // One SG list per plane, concatenated in plane order (spec: "Handling of pointers to userspace memory").
                entries.AddRange(_pages[i][plane].SgEntries.ToArray());
            }
            _sgLists[i] = entries.ToArray();
        }
    }
}

/// <summary>
/// V4L2_MEMORY_DMABUF: a second session of the same device allocates MMAP buffers and exports them (EXPBUF); the
/// capture session imports them by UUID (virtio-media VIRTIO_OBJECT) and the frames are read through the exporter's
/// mappings, as a guest would hand a dma-buf from one device to another.
/// </summary>
internal sealed class ObjectCaptureBuffers : CaptureBuffers
{
    private DriverSession? _exporter;
    private MappedBuffer[][] _views = [];
    private byte[][] _uuids = [];

    public ObjectCaptureBuffers(DriverSession session, FrameLayout layout) : base(session, layout, Constants.V4L2_MEMORY_DMABUF)
    {
    }

    public override ReadOnlySpan<byte> Read(uint index, int plane, byte[] scratch) => _views[index][plane].Span.Slice(0, (int)Layout.PlaneSizes[plane]);

    public override async ValueTask ReleaseAsync(CancellationToken cancellationToken)
    {
        await base.ReleaseAsync(cancellationToken).ConfigureAwait(false);
        if (_exporter is not null)
        {
            await UnmapAllAsync(_exporter, _views, cancellationToken).ConfigureAwait(false);
            await _exporter.CloseAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    protected override void Describe(uint index, ref v4l2_buffer buffer, Span<v4l2_plane> planes, IoctlExtras extras)
    {
        // The fd fields are placeholders the device leaves unchanged; the UUIDs name the objects.
        if (Layout.IsMultiPlanar)
        {
            for (var plane = 0; plane < Layout.PlaneCount; plane++)
            {
                planes[plane].length = Layout.PlaneSizes[plane];
                planes[plane].m.fd = 100 + plane;
            }
        }
        else
        {
            buffer.length = Layout.PlaneSizes[0];
            buffer.m.fd = 100;
        }
        extras.Uuids = _uuids[index];
    }

    protected override async ValueTask SetUpAsync(int count, CancellationToken cancellationToken)
    {
        _exporter = await Session.Endpoint.OpenSessionAsync(cancellationToken).ConfigureAwait(false);
        var format = new v4l2_format { type = Layout.BufferType };
        if (Layout.IsMultiPlanar)
        {
            format.fmt.pix_mp.width = (uint)Layout.Width;
            format.fmt.pix_mp.height = (uint)Layout.Height;
            format.fmt.pix_mp.pixelformat = Layout.PixelFormat;
            format.fmt.pix_mp.num_planes = (byte)Layout.PlaneCount;
        }
        else
        {
            format.fmt.pix.width = (uint)Layout.Width;
            format.fmt.pix.height = (uint)Layout.Height;
            format.fmt.pix.pixelformat = Layout.PixelFormat;
        }
        var set = await _exporter.VIDIOC_S_FMT(format, null, cancellationToken).ConfigureAwait(false);
        Ioctl.Check(set.Status, "VIDIOC_S_FMT on the exporting session");
        var exported = await RequestAsync(_exporter, Constants.V4L2_MEMORY_MMAP, count, cancellationToken).ConfigureAwait(false);
        _views = new MappedBuffer[exported][];
        _uuids = new byte[exported][];
        for (uint i = 0; i < exported; i++)
        {
            _views[i] = await MapAsync(_exporter, i, writable: false, cancellationToken).ConfigureAwait(false);
            _uuids[i] = new byte[16 * Layout.PlaneCount];
            for (var plane = 0; plane < Layout.PlaneCount; plane++)
            {
                var export = await _exporter.VIDIOC_EXPBUF(
                    new v4l2_exportbuffer { type = Layout.BufferType, index = i, plane = (uint)plane },
                    new IoctlExtras { Uuids = _uuids[i].AsMemory(16 * plane, 16) }, cancellationToken).ConfigureAwait(false);
                Ioctl.Check(export.Status, $"VIDIOC_EXPBUF of buffer {i} plane {plane}");
                if (new Guid(_uuids[i].AsSpan(16 * plane, 16)) == Guid.Empty)
                {
                    throw new GuestException(ExitCodes.DeviceError, $"VIDIOC_EXPBUF of buffer {i} plane {plane} answered no UUID");
                }
            }
        }
        // The node has one queue: the exporter frees its buffers (the exported objects and mappings keep their memory)
        // so the capture session can allocate the DMABUF ones.
        var freed = await _exporter.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Layout.BufferType, memory = Constants.V4L2_MEMORY_MMAP }, null, cancellationToken).ConfigureAwait(false);
        Ioctl.Check(freed.Status, "VIDIOC_REQBUFS(0) on the exporting session");
        var granted = await RequestAsync(Session, Memory, exported, cancellationToken).ConfigureAwait(false);
        if (granted > exported)
        {
            throw new GuestException(ExitCodes.DeviceError, $"VIDIOC_REQBUFS granted {granted} DMABUF buffers for {exported} exported objects");
        }
    }
}
