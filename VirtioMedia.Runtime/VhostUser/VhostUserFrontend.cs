using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.VhostUser.Interop;
using VirtioMedia.Runtime.Virtqueues;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>
/// The driver side of vhost-user, for running a virtio-media driver as a plain process: connects to a
/// back-end, negotiates, shares its memory as a memfd, lays out and announces both vrings with eventfd
/// doorbells, reads the configuration space, and maps shared memory region 0 when the back-end asks
/// with SHMEM_MAP. Every reply is awaited with a timeout; a refusal or a malformed reply throws.
/// </summary>
/// <remarks>
/// It sends what QEMU 11.1.3 sends for the same steps (recorded in the tests' Recordings folder): the
/// same requests in the same order, need_reply on the same ones, the same feature bits and layouts.
/// After SHMEM_MAP it sends a memory table that adds the back-end's memfd, as QEMU does for the BAR
/// that holds the region; disposing stops the device first (rings disabled, then GET_VRING_BASE), as
/// QEMU does when it quits. Three things QEMU repeats are sent once: GET_FEATURES, GET_CONFIG, and the
/// call descriptors QEMU re-sends when it unmasks its interrupts after the start.
/// </remarks>
public sealed unsafe class VhostUserFrontend : IDriverTransport, ISharedMemoryUnmapSource, IDisposable
{
    private static readonly SharedMemoryRegion NoSharedMemory = SharedMemoryRegion.None(0);
    private readonly VhostUserChannel _channel;
    private readonly VhostUserFrontendOptions _options;
    private readonly CancellationTokenSource _lost = new();
    private readonly TaskCompletionSource _sharedMapped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<(ulong Offset, ulong Length)> _sharedMappings = new();
    private readonly object _sharedGate = new();
    private readonly List<IDisposable> _owned = new();
    private MemoryFile? _memoryFile;
    private VhostUserChannel? _backendChannel;
    private Thread? _backendReader;
    private byte* _sharedBase;
    private ulong _sharedLength;
    private ulong _protocolFeatures;
    private byte[] _config = [];
    private GuestMemory? _memory;
    private SharedMemoryRegion? _shared;
    private EventFdNotifier? _commandKick;
    private EventFdNotifier? _eventKick;
    private EventFdNotificationSource? _commandInterrupts;
    private EventFdNotificationSource? _eventInterrupts;
    private UnixFileDescriptor? _sharedFile;
    private bool _started;

    private VhostUserFrontend(VhostUserChannel channel, VhostUserFrontendOptions options)
    {
        _channel = channel;
        _options = options;
        SplitQueueLayout.ValidateSize(options.CommandQueueSize);
        SplitQueueLayout.ValidateSize(options.EventQueueSize);
    }

    /// <summary>Connects to the back-end at <paramref name="socketPath"/> and sets the device up.</summary>
    public static Task<VhostUserFrontend> ConnectAsync(string socketPath, VhostUserFrontendOptions options, CancellationToken cancellationToken) =>
        Task.Run(() => Connect(VhostUserChannel.Connect(socketPath), options), cancellationToken);

    /// <summary>Sets the device up over a connected channel (taking ownership of it).</summary>
    public static VhostUserFrontend Connect(VhostUserChannel channel, VhostUserFrontendOptions options)
    {
        var frontend = new VhostUserFrontend(channel, options);
        try
        {
            frontend.SetUp();
            return frontend;
        }
        catch
        {
            frontend.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public GuestMemory Memory => _memory ?? throw new InvalidOperationException("not set up");

    /// <inheritdoc/>
    public SplitQueueLayout CommandQueueLayout { get; private set; }

    /// <inheritdoc/>
    public SplitQueueLayout EventQueueLayout { get; private set; }

    /// <inheritdoc/>
    public (ulong Start, ulong Length) BufferArea { get; private set; }

    /// <inheritdoc/>
    public INotifier CommandKickToDevice => _commandKick!;

    /// <inheritdoc/>
    public INotifier EventKickToDevice => _eventKick!;

    /// <inheritdoc/>
    public INotificationSource CommandInterruptsFromDevice => _commandInterrupts!;

    /// <inheritdoc/>
    public INotificationSource EventInterruptsFromDevice => _eventInterrupts!;

    /// <inheritdoc/>
    /// <remarks>Length 0 when the back-end has none (it did not offer VHOST_USER_PROTOCOL_F_SHMEM, or
    /// reported a size of 0).</remarks>
    public SharedMemoryRegion SharedMemory => _shared ?? NoSharedMemory;

    /// <inheritdoc/>
    public event Action<ulong, ulong>? SharedMemoryUnmapped;

    /// <summary>Whether VIRTIO_F_RING_EVENT_IDX was negotiated (the driver's queues must match).</summary>
    public bool EventIndex { get; private set; }

    /// <summary>The negotiated virtio features.</summary>
    public ulong Features { get; private set; }

    /// <summary>The configuration space bytes read with GET_CONFIG.</summary>
    public ReadOnlyMemory<byte> ConfigBytes => _config;

    /// <summary>Cancelled when the back-end goes away (its back-end channel closes).</summary>
    public CancellationToken ConnectionLost => _lost.Token;

    /// <inheritdoc/>
    public virtio_media_config ReadConfig() =>
        ConfigSpace.TryDecode(_config, out var config) ? config : throw new InvalidOperationException($"the back-end's config space is {_config.Length} bytes, not {ConfigSpace.Size}");

    private bool Negotiated(int protocolFeature) => (_protocolFeatures & VhostUserFeatures.Bit(protocolFeature)) != 0;

    private void SetUp()
    {
        // The order and the need_reply flags are QEMU's (vhost_dev_init, then vhost_dev_start).
        var offered = ReplyU64(VhostUserRequest.GET_FEATURES);
        var required = VhostUserFeatures.Bit(VhostUserFeatures.VIRTIO_F_VERSION_1) | VhostUserFeatures.Bit(VhostUserFeatures.VHOST_USER_F_PROTOCOL_FEATURES);
        if ((offered & required) != required)
        {
            throw new VhostUserProtocolException($"the back-end offers features 0x{offered:X}, without VERSION_1 and PROTOCOL_FEATURES");
        }
        var wanted = VhostUserFeatures.Bit(VhostUserProtocolFeatures.REPLY_ACK) | VhostUserFeatures.Bit(VhostUserProtocolFeatures.BACKEND_REQ)
            | VhostUserFeatures.Bit(VhostUserProtocolFeatures.CONFIG) | VhostUserFeatures.Bit(VhostUserProtocolFeatures.BACKEND_SEND_FD)
            | VhostUserFeatures.Bit(VhostUserProtocolFeatures.SHMEM) | VhostUserFeatures.Bit(VhostUserProtocolFeatures.MQ);
        var protocol = ReplyU64(VhostUserRequest.GET_PROTOCOL_FEATURES) & wanted;
        Request(VhostUserRequest.SET_PROTOCOL_FEATURES, VhostUserProtocol.U64(protocol), ack: false);
        _protocolFeatures = protocol;
        if (Negotiated(VhostUserProtocolFeatures.MQ) && ReplyU64(VhostUserRequest.GET_QUEUE_NUM) < VhostUserBackend.QueueCount)
        {
            throw new VhostUserProtocolException("the back-end supports fewer than 2 queues");
        }
        if (Negotiated(VhostUserProtocolFeatures.BACKEND_REQ))
        {
            var (mine, theirs) = VhostUserChannel.CreateSocketPair();
            using (theirs)
            {
                _backendChannel = new VhostUserChannel(mine);
                Request(VhostUserRequest.SET_BACKEND_REQ_FD, [], ack: true, [theirs]);
            }
            _backendReader = new Thread(ServeBackendChannel) { IsBackground = true, Name = "vhost-user back-end channel" };
            _backendReader.Start();
        }
        Request(VhostUserRequest.SET_OWNER, [], ack: false);

        // Each vring's call and error descriptors, before anything else about it.
        _commandInterrupts = CreateInterrupts(0);
        _eventInterrupts = CreateInterrupts(1);
        if (Negotiated(VhostUserProtocolFeatures.SHMEM))
        {
            ReserveSharedMemory();
        }
        if (Negotiated(VhostUserProtocolFeatures.CONFIG))
        {
            ReadConfigSpace();
        }

        Features = required | (_options.NegotiateEventIndex ? offered & VhostUserFeatures.Bit(VhostUserFeatures.VIRTIO_F_RING_EVENT_IDX) : 0);
        EventIndex = (Features & VhostUserFeatures.Bit(VhostUserFeatures.VIRTIO_F_RING_EVENT_IDX)) != 0;
        Request(VhostUserRequest.SET_FEATURES, VhostUserProtocol.U64(Features), ack: false);

        ShareMemory();
        _commandKick = SetUpVring(0, CommandQueueLayout, _commandInterrupts);
        _eventKick = SetUpVring(1, EventQueueLayout, _eventInterrupts);
        for (uint i = 0; i < VhostUserBackend.QueueCount; i++)
        {
            Request(VhostUserRequest.SET_VRING_ENABLE, State(i, 1), ack: true);
        }
        _started = true;
        if (_shared is not null)
        {
            if (!_sharedMapped.Task.Wait(_options.Timeout))
            {
                throw new TimeoutException($"the back-end did not map shared memory region 0 within {_options.Timeout}");
            }
            SendMemoryTable();
        }
    }

    /// <summary>SET_VRING_CALL and SET_VRING_ERR of vring <paramref name="index"/>; the error descriptor is
    /// kept open, never read (nothing here reports ring errors).</summary>
    private EventFdNotificationSource CreateInterrupts(uint index)
    {
        var callFd = EventFd.Create();
        var interrupts = new EventFdNotificationSource(callFd, $"vhost-user call {index}");
        _owned.Add(interrupts);
        Request(VhostUserRequest.SET_VRING_CALL, VhostUserProtocol.U64(index), ack: true, [callFd]);
        var errorFd = EventFd.Create();
        _owned.Add(errorFd);
        Request(VhostUserRequest.SET_VRING_ERR, VhostUserProtocol.U64(index), ack: true, [errorFd]);
        return interrupts;
    }

    private void ReadConfigSpace()
    {
        var request = new byte[VhostUserProtocol.ConfigHeaderSize + ConfigSpace.Size];
        MemoryMarshal.Write(request.AsSpan(4), (uint)ConfigSpace.Size);
        var reply = Request(VhostUserRequest.GET_CONFIG, request, expectReply: true, fds: null)!;
        if (reply.Length != request.Length)
        {
            throw new VhostUserProtocolException($"GET_CONFIG answered {reply.Length} bytes for a {request.Length}-byte request (0 means refused)");
        }
        _config = reply.AsSpan(VhostUserProtocol.ConfigHeaderSize).ToArray();
    }

    private void ReserveSharedMemory()
    {
        var reply = Request(VhostUserRequest.GET_SHMEM_CONFIG, [], expectReply: true, fds: null)!;
        if (reply.Length != VhostUserProtocol.SharedMemoryConfigSize)
        {
            throw new VhostUserProtocolException($"GET_SHMEM_CONFIG answered {reply.Length} bytes, not {VhostUserProtocol.SharedMemoryConfigSize}");
        }
        var size = MemoryMarshal.Read<ulong>(reply.AsSpan(8));
        var page = (ulong)Environment.SystemPageSize;
        if (size == 0)
        {
            return;
        }
        if (size % page != 0 || size > 1UL << 40)
        {
            throw new VhostUserProtocolException($"shared memory region 0 of {size} bytes is not a sane multiple of the page size");
        }
        // The region is address space reserved now; SHMEM_MAP places the back-end's file inside it.
        var reserved = LibC.Mmap(null, (nuint)size, LibC.PROT_NONE, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS, -1, 0);
        if (reserved == LibC.MapFailed)
        {
            throw LibC.Failure("mmap", LibC.LastError);
        }
        _sharedBase = (byte*)reserved;
        _sharedLength = size;
        _shared = new SharedMemoryRegion(0, (IntPtr)reserved, size);
    }

    private void ShareMemory()
    {
        var page = (ulong)Environment.SystemPageSize;
        var start = _options.GuestAddress;
        var command = SplitQueueLayout.Contiguous(_options.CommandQueueSize, start);
        var @event = SplitQueueLayout.Contiguous(_options.EventQueueSize, Align(start + SplitQueueLayout.ContiguousSize(_options.CommandQueueSize), page));
        var buffers = Align(@event.DescriptorTable + SplitQueueLayout.ContiguousSize(_options.EventQueueSize), page);
        if (buffers >= start + _options.MemorySize)
        {
            throw new ArgumentException($"{_options.MemorySize} bytes of memory do not even hold the rings");
        }
        _memoryFile = MemoryFile.Create("virtio-media-guest", _options.MemorySize);
        _memory = new GuestMemory(new GuestMemoryRegion(start, _memoryFile.Length, _memoryFile.Mapping.Address));
        CommandQueueLayout = command;
        EventQueueLayout = @event;
        BufferArea = (buffers, start + _memoryFile.Length - buffers);
        SendMemoryTable();
    }

    /// <summary>
    /// SET_MEM_TABLE of the guest memory, and once SHMEM_MAP has placed the back-end's memfd in shared
    /// memory region 0, of that too, at a guest address past the memory aligned to 1 GiB (QEMU puts it
    /// where the BAR of the region is, and sends this table right after acknowledging SHMEM_MAP).
    /// </summary>
    private void SendMemoryTable()
    {
        var shared = _sharedFile is not null && _sharedMapped.Task.IsCompleted;
        var count = shared ? 2u : 1u;
        var table = new byte[VhostUserProtocol.MemoryTableHeaderSize + (int)count * VhostUserProtocol.MemoryRegionSize];
        MemoryMarshal.Write(table, in count);
        WriteRegion(table.AsSpan(VhostUserProtocol.MemoryTableHeaderSize), _options.GuestAddress, _memoryFile!.Length, (ulong)_memoryFile.Mapping.Address);
        if (!shared)
        {
            Request(VhostUserRequest.SET_MEM_TABLE, table, ack: true, [_memoryFile.Descriptor]);
            return;
        }
        var sharedGuestAddress = Align(_options.GuestAddress + _memoryFile.Length, 1UL << 30);
        WriteRegion(table.AsSpan(VhostUserProtocol.MemoryTableHeaderSize + VhostUserProtocol.MemoryRegionSize), sharedGuestAddress, _sharedLength, (ulong)_sharedBase);
        Request(VhostUserRequest.SET_MEM_TABLE, table, ack: true, [_memoryFile.Descriptor, _sharedFile!]);
    }

    private static void WriteRegion(Span<byte> region, ulong guest, ulong size, ulong user)
    {
        MemoryMarshal.Write(region, in guest);
        MemoryMarshal.Write(region.Slice(8), in size);
        MemoryMarshal.Write(region.Slice(16), in user);
        MemoryMarshal.Write(region.Slice(24), 0UL); // mmap offset
    }

    private static ulong Align(ulong value, ulong alignment) => (value + alignment - 1) / alignment * alignment;

    private EventFdNotifier SetUpVring(uint index, SplitQueueLayout layout, EventFdNotificationSource interrupts)
    {
        Request(VhostUserRequest.SET_VRING_NUM, State(index, layout.Size), ack: false);
        Request(VhostUserRequest.SET_VRING_BASE, State(index, 0), ack: false);
        var address = new byte[VhostUserProtocol.VringAddressSize];
        MemoryMarshal.Write(address, in index);
        MemoryMarshal.Write(address.AsSpan(8), UserAddress(layout.DescriptorTable));
        MemoryMarshal.Write(address.AsSpan(16), UserAddress(layout.UsedRing));
        MemoryMarshal.Write(address.AsSpan(24), UserAddress(layout.AvailableRing));
        // The log address is meaningless without VHOST_VRING_F_LOG; QEMU puts the used ring's guest address there.
        MemoryMarshal.Write(address.AsSpan(32), layout.UsedRing);
        Request(VhostUserRequest.SET_VRING_ADDR, address, ack: false);

        var kickFd = EventFd.Create();
        var kick = new EventFdNotifier(kickFd);
        _owned.Add(kick);
        Request(VhostUserRequest.SET_VRING_KICK, VhostUserProtocol.U64(index), ack: true, [kickFd]);
        Request(VhostUserRequest.SET_VRING_CALL, VhostUserProtocol.U64(index), ack: true, [interrupts.Descriptor]);
        return kick;
    }

    private ulong UserAddress(ulong guest) => (ulong)_memoryFile!.Mapping.Address + (guest - _options.GuestAddress);


    private static byte[] State(uint index, uint num)
    {
        var bytes = new byte[VhostUserProtocol.VringStateSize];
        MemoryMarshal.Write(bytes, in index);
        MemoryMarshal.Write(bytes.AsSpan(4), in num);
        return bytes;
    }

    private ulong ReplyU64(uint request)
    {
        var reply = Request(request, [], expectReply: true, fds: null)!;
        return reply.Length == 8 ? MemoryMarshal.Read<ulong>(reply) : throw new VhostUserProtocolException($"request {request}: a u64 reply is 8 bytes, not {reply.Length}");
    }

    /// <summary>Sends a request that has no reply of its own; with <paramref name="ack"/> and REPLY_ACK
    /// negotiated it sets need_reply, waits for the ack and throws when it is not 0.</summary>
    private void Request(uint request, byte[] payload, bool ack, UnixFileDescriptor[]? fds = null) =>
        Request(request, payload, expectReply: false, fds, ack && Negotiated(VhostUserProtocolFeatures.REPLY_ACK));

    /// <summary>Sends a request; returns the reply payload when one is expected, else waits for the ack
    /// when <paramref name="ack"/> and throws when it is not 0.</summary>
    private byte[]? Request(uint request, byte[] payload, bool expectReply, UnixFileDescriptor[]? fds, bool ack = false)
    {
        _channel.Send(request, VhostUserProtocol.Version | (ack ? VhostUserProtocol.NeedReplyFlag : 0), payload, fds);
        if (!expectReply && !ack)
        {
            return null;
        }
        using var reply = _channel.Receive(_options.Timeout) ?? throw new VhostUserProtocolException($"the back-end closed the connection instead of answering request {request}");
        if (!reply.IsReply || reply.Request != request)
        {
            throw new VhostUserProtocolException($"request {request} answered by {(reply.IsReply ? "reply" : "request")} {reply.Request}");
        }
        if (expectReply)
        {
            return reply.Payload;
        }
        if (!reply.TryRead<ulong>(0, out var status) || reply.Payload.Length != 8 || status != 0)
        {
            throw new VhostUserProtocolException($"request {request} refused by the back-end ({reply.Payload.Length}-byte ack)");
        }
        return null;
    }

    private void ServeBackendChannel()
    {
        var channel = _backendChannel!;
        try
        {
            while (true)
            {
                using var message = channel.Receive();
                if (message is null)
                {
                    return;
                }
                var status = message.Request switch
                {
                    VhostUserBackendRequest.SHMEM_MAP => Map(message),
                    VhostUserBackendRequest.SHMEM_UNMAP => Unmap(message),
                    VhostUserBackendRequest.CONFIG_CHANGE_MSG => 0UL,
                    _ => 1UL,
                };
                if (message.NeedsReply)
                {
                    channel.Send(message.Request, VhostUserProtocol.Version | VhostUserProtocol.ReplyFlag, VhostUserProtocol.U64(status));
                }
                // Only now: the memory table that follows must reach the back-end after this ack, as QEMU's does.
                if (message.Request == VhostUserBackendRequest.SHMEM_MAP && status == 0 && _sharedFile is not null)
                {
                    _sharedMapped.TrySetResult();
                }
            }
        }
        catch (Exception error) when (error is VhostUserProtocolException or System.IO.IOException or ObjectDisposedException)
        {
        }
        finally
        {
            _lost.Cancel();
        }
    }

    private bool TryReadMmap(VhostUserMessage message, out ulong fdOffset, out ulong shmOffset, out ulong length, out ulong flags)
    {
        fdOffset = shmOffset = length = flags = 0;
        var page = (ulong)Environment.SystemPageSize;
        return message.Payload.Length == VhostUserProtocol.MmapRequestSize
            && message.Payload[0] == 0 && _sharedBase != null
            && message.TryRead(8, out fdOffset) && message.TryRead(16, out shmOffset) && message.TryRead(24, out length) && message.TryRead(32, out flags)
            && length > 0 && shmOffset % page == 0 && length % page == 0 && fdOffset % page == 0
            && shmOffset <= _sharedLength && length <= _sharedLength - shmOffset;
    }

    private ulong Map(VhostUserMessage message)
    {
        var fd = message.TakeFileDescriptor(0);
        if (fd is null || !TryReadMmap(message, out var fdOffset, out var shmOffset, out var length, out var flags))
        {
            fd?.Dispose();
            return 1;
        }
        using var owned = fd;
        lock (_sharedGate)
        {
            foreach (var (offset, mapped) in _sharedMappings)
            {
                if (shmOffset < offset + mapped && offset < shmOffset + length)
                {
                    return 1; // "Mapping over an already existing map is not allowed"
                }
            }
            var protection = LibC.PROT_READ | ((flags & VhostUserProtocol.MapReadWrite) != 0 ? LibC.PROT_WRITE : 0);
            using var raw = fd.Acquire();
            // A file shorter than the range would fault (SIGBUS) on the first access past its end, and one
            // that can still shrink could become so later: sealed where the file allows it, then measured.
            MemoryMapping.TrySealAgainstShrinking(fd);
            var size = LibC.Lseek(raw.Fd, 0, LibC.SEEK_END);
            if (size < 0 || (ulong)size < fdOffset + length || fdOffset + length < fdOffset)
            {
                return 1;
            }
            var result = LibC.Mmap(_sharedBase + shmOffset, (nuint)length, protection, LibC.MAP_SHARED | LibC.MAP_FIXED, raw.Fd, (long)fdOffset);
            if (result == LibC.MapFailed)
            {
                return 1;
            }
            _sharedMappings.Add((shmOffset, length));
            if (shmOffset == 0 && fdOffset == 0 && length == _sharedLength && _sharedFile is null)
            {
                // The whole region from one file: kept to pass back in the memory table.
                _sharedFile = new UnixFileDescriptor(LibC.Check(LibC.Fcntl(raw.Fd, LibC.F_DUPFD_CLOEXEC, 0), "fcntl(F_DUPFD_CLOEXEC)"));
            }
        }
        return 0;
    }

    private ulong Unmap(VhostUserMessage message)
    {
        if (!TryReadMmap(message, out _, out var shmOffset, out var length, out _))
        {
            return 1;
        }
        lock (_sharedGate)
        {
            // "the given range shall correspond to the entirety of a valid mapped region".
            if (!_sharedMappings.Remove((shmOffset, length)))
            {
                return 1;
            }
            // Zero pages in place of the device's file, not PROT_NONE: an application still reading a buffer
            // there reads zeros instead of faulting, and its next ioctl on that buffer is refused.
            var result = LibC.Mmap(_sharedBase + shmOffset, (nuint)length, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_FIXED, -1, 0);
            if (result == LibC.MapFailed)
            {
                return 1;
            }
        }
        // Told outside the gate: the driver endpoint revokes the buffers mapped there.
        SharedMemoryUnmapped?.Invoke(shmOffset, length);
        return 0;
    }

    /// <summary>Stops the device as QEMU does before it disconnects: both rings disabled, then their
    /// GET_VRING_BASE. Best effort: a back-end that is gone or slow ends it.</summary>
    private void Stop()
    {
        if (!_started)
        {
            return;
        }
        _started = false;
        try
        {
            for (uint i = 0; i < VhostUserBackend.QueueCount; i++)
            {
                Request(VhostUserRequest.SET_VRING_ENABLE, State(i, 0), ack: true);
            }
            for (uint i = 0; i < VhostUserBackend.QueueCount; i++)
            {
                Request(VhostUserRequest.GET_VRING_BASE, State(i, 0), expectReply: true, fds: null);
            }
        }
        catch (Exception error) when (error is VhostUserProtocolException or System.IO.IOException or TimeoutException or ObjectDisposedException)
        {
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Stop();
        _channel.Dispose();
        _backendChannel?.Shutdown();
        _backendReader?.Join(TimeSpan.FromSeconds(5));
        _backendChannel?.Dispose();
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
        _memory?.Dispose();
        _memoryFile?.Dispose();
        _sharedFile?.Dispose();
        _shared?.Dispose();
        if (_sharedBase != null)
        {
            LibC.Munmap(_sharedBase, (nuint)_sharedLength);
            _sharedBase = null;
        }
        _lost.Cancel();
        _lost.Dispose();
    }
}
