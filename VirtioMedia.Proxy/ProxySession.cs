using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Proxy;

/// <summary>
/// One virtio-media session served by one open file of the host node. Ioctls without pointers or buffer names go to
/// the node unchanged (ProxySession.Forwarded.cs); buffers are translated between the guest's memory and the host
/// node's (ProxySession.Buffers.cs); a thread polls the node and turns finished buffers and V4L2 events into DQBUF
/// and EVENT events, and a node that goes away into an ERROR event (ProxySession.Events.cs).
/// </summary>
public sealed partial class ProxySession : V4l2DeviceHandler<DeviceIoctlContext>, IDisposable
{
    private readonly V4l2Proxy _proxy;
    private readonly HostNode _node;
    private readonly object _gate = new();
    private readonly Dictionary<uint, ProxyQueue> _queues = new();
    private readonly Thread _poller;
    private volatile bool _stopping;
    private bool _disposed;

    internal ProxySession(V4l2Proxy proxy, DeviceSession session, HostNode node)
    {
        _proxy = proxy;
        Session = session;
        _node = node;
        _poller = new Thread(PollLoop) { IsBackground = true, Name = $"proxy {node.Path} session {session.Id}" };
        _poller.Start();
    }

    /// <summary>The device session this handler serves.</summary>
    public DeviceSession Session { get; }

    /// <summary>The host node's errno for <paramref name="request"/> on <paramref name="payload"/> (0 on success).</summary>
    private int Forward<T>(ulong request, ref T payload)
        where T : unmanaged => _node.Ioctl(request, ref payload);

    /// <summary>Stops the poll thread, frees every buffer mapping and closes the host file (which ends its streams).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _stopping = true;
        // The poll thread wakes at least every PollIntervalMilliseconds.
        _poller.Join(TimeSpan.FromSeconds(5));
        lock (_gate)
        {
            // The node first: closing it ends its streams and unpins the USERPTR memory it holds (virtio objects, guest
            // pages), which may be let go only then.
            _node.Dispose();
            foreach (var queue in _queues.Values)
            {
                queue.Release(Session.Endpoint.Mmap);
            }
            _queues.Clear();
        }
    }

    // ---- controls: the array of v4l2_ext_control and the payloads of pointer controls live in the request's trailers ----

    /// <inheritdoc/>
    public override int VIDIOC_G_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) =>
        ExtControls(Ioctls.VIDIOC_G_EXT_CTRLS.Descriptor.Request, context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_S_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) =>
        ExtControls(Ioctls.VIDIOC_S_EXT_CTRLS.Descriptor.Request, context, ref payload);

    /// <inheritdoc/>
    public override int VIDIOC_TRY_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) =>
        ExtControls(Ioctls.VIDIOC_TRY_EXT_CTRLS.Descriptor.Request, context, ref payload);

    private unsafe int ExtControls(ulong request, DeviceIoctlContext context, ref v4l2_ext_controls payload)
    {
        var controls = context.Controls;
        if (payload.count != (uint)controls.Length)
        {
            return Constants.EINVAL;
        }
        // Requests need a media device file the guest does not have.
        if (payload.which == Constants.V4L2_CTRL_WHICH_REQUEST_VAL)
        {
            return Constants.EINVAL;
        }
        var guestPointer = payload.controls;
        var sgIndex = 0;
        var bounces = new List<(int Control, IntPtr Memory, ulong Guest)>();
        try
        {
            for (var i = 0; i < controls.Length; i++)
            {
                ref var control = ref controls[i];
                if (control.size == 0)
                {
                    continue;
                }
                // A pointer control: its payload is the next SG list of the request, staged in host memory.
                if (sgIndex >= context.SgListCount || control.size > MaxControlPayload)
                {
                    return Constants.EINVAL;
                }
                var pages = new GuestScatterList(context.GuestMemory);
                if (!context.LoadSharedPages(sgIndex++, pages).IsSuccess || pages.Length < control.size)
                {
                    return Constants.EFAULT;
                }
                var memory = (IntPtr)NativeMemory.AllocZeroed(control.size);
                bounces.Add((i, memory, control.p_u8));
                pages.TryRead(0, new Span<byte>((void*)memory, (int)control.size));
                control.p_u8 = (ulong)memory;
            }
            int status;
            fixed (v4l2_ext_control* array = controls)
            {
                payload.controls = (ulong)array;
                status = _node.Ioctl(request, ref payload);
            }
            payload.controls = guestPointer;
            sgIndex = 0;
            foreach (var (index, memory, guest) in bounces)
            {
                var pages = new GuestScatterList(context.GuestMemory);
                context.LoadSharedPages(sgIndex++, pages);
                // The size may have been lowered (strings) or raised (the host says how much it needs): copy what fits.
                var length = Math.Min(controls[index].size, (uint)pages.Length);
                pages.TryWrite(0, new ReadOnlySpan<byte>((void*)memory, (int)Math.Min(length, MaxControlPayload)));
                controls[index].p_u8 = guest;
            }
            // error_idx and the controls carry information on failure too.
            context.WritePayloadOnError = true;
            return status;
        }
        finally
        {
            foreach (var (_, memory, _) in bounces)
            {
                NativeMemory.Free((void*)memory);
            }
        }
    }

    /// <summary>The largest pointer-control payload staged (a 4K frame of a compound control is far below it).</summary>
    internal const uint MaxControlPayload = 16u << 20;

    // ---- exports ----

    /// <summary>
    /// VIDIOC_EXPBUF of an MMAP buffer's plane: its twin in region 0 is exported into the endpoint's virtio object
    /// registry and the UUID answered after the payload; the fd placeholder goes back as the guest sent it (virtio-media:
    /// "the device MUST leave the fd placeholder unchanged"). A host file descriptor never reaches the guest. EINVAL as
    /// videobuf2 answers it: flags beyond O_CLOEXEC and the access mode, a queue that is not MMAP, an index or plane the
    /// queue has not.
    /// </summary>
    public override int VIDIOC_EXPBUF(DeviceIoctlContext context, ref v4l2_exportbuffer payload)
    {
        if (!ExportFlagsValid(payload.flags))
        {
            return Constants.EINVAL;
        }
        lock (_gate)
        {
            if (!_queues.TryGetValue(payload.type, out var queue) || queue.Memory != Constants.V4L2_MEMORY_MMAP || payload.index >= (uint)queue.Buffers.Count)
            {
                return Constants.EINVAL;
            }
            var buffer = queue.Buffers[(int)payload.index];
            if (payload.plane >= (uint)buffer.Planes || buffer.Shared[(int)payload.plane] is not { } twin || !context.Objects.TryExport(twin, out var uuid))
            {
                return Constants.EINVAL;
            }
            context.SetUuid(0, uuid);
            return 0;
        }
    }

    /// <summary>videobuf2-core.c, vb2_core_expbuf: only O_CLOEXEC and the access mode (O_ACCMODE) may be asked for.</summary>
    internal static bool ExportFlagsValid(uint flags) => (flags & ~(uint)(HostNode.O_CLOEXEC | HostNode.O_ACCMODE)) == 0;
}
