using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>
/// The device side of vhost-user: serves one front-end connection at a time, sets up guest memory and
/// the two virtio-media queues as the front-end describes them, and once both rings are started and
/// enabled hands an <see cref="IDeviceTransport"/> to the device's serve function. A malformed message
/// gets an error reply (REPLY_ACK) or drops the connection; the back-end then accepts the next one.
/// </summary>
/// <remarks>
/// <para>Shared memory region 0 is a memfd of <see cref="VhostUserBackendOptions.SharedMemorySize"/>
/// bytes, reported by GET_SHMEM_CONFIG and mapped whole into the front-end with one BACKEND_SHMEM_MAP
/// each time the device starts. Not at GET_SHMEM_CONFIG time: the specification lets the front-end drop
/// all mappings across a device reset, and QEMU asks for the configuration before the back-end channel
/// exists. The map request is sent off the message loop (the front-end may be waiting for a reply on
/// the main socket) and the device is served only after the front-end acknowledged it, so no MMAP
/// offset reaches the driver before the memory is there. It is sent only while the device is started
/// and never unmapped after a stop: QEMU 11.1.3 drops the mappings itself at reset and dereferences a
/// NULL device on a SHMEM_MAP or SHMEM_UNMAP that reaches it while its vhost device is stopped. With a
/// size of 0 the protocol feature is not offered and the transport's region has length 0.</para>
/// <para>A SET_MEM_TABLE while the device runs swaps the guest memory in place (queues and sessions
/// stay): QEMU sends one after each SHMEM_MAP, adding the back-end's own memfd at the BAR's guest
/// address, and one without it after a reset. Only a table that moves the rings stops the device.
/// Each table's mappings are held by the device runs that saw it and unmapped when the last of them
/// has finished, so no access can still be using them.</para>
/// </remarks>
public sealed class VhostUserBackend
{
    /// <summary>The number of queues of a virtio-media device: commandq and eventq.</summary>
    public const int QueueCount = 2;

    /// <summary>The virtio features offered: VERSION_1, EVENT_IDX and vhost-user protocol features.</summary>
    public static readonly ulong OfferedFeatures =
        VhostUserFeatures.Bit(VhostUserFeatures.VIRTIO_F_VERSION_1)
        | VhostUserFeatures.Bit(VhostUserFeatures.VIRTIO_F_RING_EVENT_IDX)
        | VhostUserFeatures.Bit(VhostUserFeatures.VHOST_USER_F_PROTOCOL_FEATURES);

    /// <summary>The protocol features offered by a back-end without shared memory: MQ (the
    /// specification asks every back-end for it), REPLY_ACK, BACKEND_REQ, CONFIG and BACKEND_SEND_FD.</summary>
    public static readonly ulong BaseProtocolFeatures =
        VhostUserFeatures.Bit(VhostUserProtocolFeatures.MQ)
        | VhostUserFeatures.Bit(VhostUserProtocolFeatures.REPLY_ACK)
        | VhostUserFeatures.Bit(VhostUserProtocolFeatures.BACKEND_REQ)
        | VhostUserFeatures.Bit(VhostUserProtocolFeatures.CONFIG)
        | VhostUserFeatures.Bit(VhostUserProtocolFeatures.BACKEND_SEND_FD);

    /// <summary>The protocol features offered with a shared memory region: the base ones and SHMEM
    /// (SHMEM_MAP carries a descriptor, hence BACKEND_SEND_FD).</summary>
    public static readonly ulong SharedMemoryProtocolFeatures =
        BaseProtocolFeatures | VhostUserFeatures.Bit(VhostUserProtocolFeatures.SHMEM);

    private static readonly SharedMemoryRegion NoSharedMemory = SharedMemoryRegion.None(0);

    private readonly VhostUserBackendOptions _options;
    private readonly Func<IDeviceTransport, CancellationToken, Task> _serve;
    private readonly ulong _sharedMemorySize;

    /// <summary>
    /// Creates a back-end that owns the device: each time the front-end starts it, a
    /// <see cref="DeviceEndpoint"/> from <paramref name="createDevice"/> serves the queues. On a stop, reset
    /// or disconnect the back-end calls <paramref name="stopping"/> (for the device's own threads, a camera's
    /// frame source say), stops the endpoint taking chains, waits for every command that was running to
    /// finish however long it takes (<see cref="VhostUserBackendOptions.StopTimeout"/> only paces the log),
    /// disposes the endpoint, and only then releases the guest memory and shared memory it could reach.
    /// </summary>
    public VhostUserBackend(VhostUserBackendOptions options, Func<IDeviceTransport, DeviceEndpoint> createDevice, Action<DeviceEndpoint>? stopping = null)
        : this(options, (transport, token) => RunDeviceAsync(createDevice, stopping, transport, token))
    {
    }

    /// <summary>Creates a back-end that calls <paramref name="serve"/> with a transport each time the
    /// device starts; the token is cancelled when the device stops or the front-end goes away. Guest and
    /// shared memory stay mapped until the returned task completes, so <paramref name="serve"/> must not
    /// complete while anything it started can still touch them (the constructor taking a device factory
    /// does that for a <see cref="DeviceEndpoint"/>).</summary>
    public VhostUserBackend(VhostUserBackendOptions options, Func<IDeviceTransport, CancellationToken, Task> serve)
    {
        if (options.Config.Length > VhostUserProtocol.MaxConfigSize)
        {
            throw new ArgumentException($"a config space is at most {VhostUserProtocol.MaxConfigSize} bytes", nameof(options));
        }
        _options = options;
        _serve = serve;
        var page = (ulong)Environment.SystemPageSize;
        _sharedMemorySize = (options.SharedMemorySize + page - 1) / page * page;
        OfferedProtocolFeatures = _sharedMemorySize > 0 ? SharedMemoryProtocolFeatures : BaseProtocolFeatures;
    }

    private static async Task RunDeviceAsync(Func<IDeviceTransport, DeviceEndpoint> createDevice, Action<DeviceEndpoint>? stopping, IDeviceTransport transport, CancellationToken cancellationToken)
    {
        var endpoint = createDevice(transport);
        try
        {
            endpoint.Start();
            await Task.Delay(Timeout.Infinite, cancellationToken).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            stopping?.Invoke(endpoint);
            // No drain timeout: a command still running may write guest memory until it returns, and this
            // task's end is what lets the memory go.
            await endpoint.StopAsync(TimeSpan.MaxValue).ConfigureAwait(false);
        }
        finally
        {
            await endpoint.DisposeAsync().ConfigureAwait(false);
        }
    }

    private long _refusedSharedMemoryMaps;

    /// <summary>How many SHMEM_MAP requests of region 0 the front-ends refused or left unanswered (each one
    /// is logged too; the device is served without MMAP memory until its next start).</summary>
    public long RefusedSharedMemoryMaps => Interlocked.Read(ref _refusedSharedMemoryMaps);

    /// <summary>The protocol features this back-end offers: SHMEM only when it has a shared memory region.</summary>
    public ulong OfferedProtocolFeatures { get; }

    /// <summary>Listens at <paramref name="socketPath"/> and serves front-ends one after another until cancelled.</summary>
    public async Task RunAsync(string socketPath, CancellationToken cancellationToken)
    {
        using var listener = VhostUserListener.Listen(socketPath);
        _options.Log?.Invoke($"listening on {socketPath}");
        while (true)
        {
            VhostUserChannel channel;
            try
            {
                channel = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            await ServeConnectionAsync(channel, cancellationToken).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>Serves one connected front-end until it disconnects, breaks the protocol, or
    /// <paramref name="cancellationToken"/> is cancelled; takes ownership of <paramref name="channel"/>.
    /// Completes normally in every case (the reason is logged).</summary>
    public Task ServeConnectionAsync(VhostUserChannel channel, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(() => new Connection(this, channel).Run(cancellationToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private sealed class Vring
    {
        public ushort Size;
        public ulong DescriptorUser;
        public ulong UsedUser;
        public ulong AvailableUser;
        public bool AddressSet;
        public ushort Base;
        public EventFdNotificationSource? Kick;
        public readonly ForwardingNotifier Call = new();
        public bool Enabled;
    }

    /// <summary>A request the loop refuses: an error ack when one was asked for, else the connection ends.</summary>
    private sealed class RefusedException(string message) : Exception(message);

    private sealed class Connection(VhostUserBackend owner, VhostUserChannel channel)
    {
        private readonly Vring[] _vrings = [new Vring(), new Vring()];
        private MemoryTableSnapshot _table = MemoryTableSnapshot.Empty;
        private GuestMemory? _memory;
        private ulong _features;
        private ulong _protocolFeatures;
        private VhostUserChannel? _backendChannel;
        private Task _backendTail = Task.CompletedTask;
        private MemoryFile? _sharedFile;
        private SharedMemoryRegion? _sharedRegion;
        private bool _sharedMapped;
        private DeviceRun? _running;
        private CancellationToken _connectionToken;

        private VhostUserBackendOptions Options => owner._options;

        private bool Negotiated(int protocolFeature) => (_protocolFeatures & VhostUserFeatures.Bit(protocolFeature)) != 0;

        public void Run(CancellationToken cancellationToken)
        {
            _connectionToken = cancellationToken;
            using var registration = cancellationToken.Register(channel.Shutdown);
            Options.Log?.Invoke("front-end connected");
            try
            {
                while (true)
                {
                    using var message = channel.Receive();
                    if (message is null)
                    {
                        Options.Log?.Invoke("front-end disconnected");
                        return;
                    }
                    Options.Trace?.Invoke(VhostUserTrace.Format(VhostUserTrace.MainChannel, VhostUserTrace.FromFrontend, message.Request, message.Flags, message.Payload, message.FileDescriptorCount));
                    if (!Handle(message))
                    {
                        return;
                    }
                }
            }
            catch (Exception error) when (error is VhostUserProtocolException or System.IO.IOException or TimeoutException)
            {
                Options.Log?.Invoke($"connection dropped: {error.Message}");
            }
            finally
            {
                Close();
            }
        }

        /// <summary>Handles one message; false ends the connection.</summary>
        private bool Handle(VhostUserMessage message)
        {
            if (message.IsReply)
            {
                Options.Log?.Invoke($"connection dropped: request {message.Request} is flagged as a reply");
                return false;
            }
            byte[]? reply;
            try
            {
                reply = Dispatch(message);
            }
            catch (Exception error) when (error is RefusedException or ArgumentException or GuestMemoryException or System.IO.IOException)
            {
                if (message.NeedsReply && Negotiated(VhostUserProtocolFeatures.REPLY_ACK) && !VhostUserRequestDecoder.HasExplicitReply(message.Request))
                {
                    Options.Log?.Invoke($"request {message.Request} refused: {error.Message}");
                    SendU64(message.Request, 1);
                    return true;
                }
                Options.Log?.Invoke($"connection dropped: request {message.Request} refused without a way to say so: {error.Message}");
                return false;
            }
            // Started before the reply: once the front-end has the ack of the message that completed the
            // set-up, the device runs.
            TryStart();
            if (reply is not null)
            {
                SendReply(message.Request, reply);
            }
            else if (message.NeedsReply && Negotiated(VhostUserProtocolFeatures.REPLY_ACK))
            {
                SendU64(message.Request, 0);
            }
            return true;
        }

        private void SendU64(uint request, ulong value)
        {
            Span<byte> payload = stackalloc byte[8];
            MemoryMarshal.Write(payload, in value);
            SendReply(request, payload);
        }

        private void SendReply(uint request, ReadOnlySpan<byte> payload)
        {
            const uint flags = VhostUserProtocol.Version | VhostUserProtocol.ReplyFlag;
            channel.Send(request, flags, payload);
            Options.Trace?.Invoke(VhostUserTrace.Format(VhostUserTrace.MainChannel, VhostUserTrace.FromBackend, request, flags, payload, 0));
        }

        /// <summary>Performs a request; returns the explicit reply payload, or null for none (an ack may follow).</summary>
        private byte[]? Dispatch(VhostUserMessage message)
        {
            switch (message.Request)
            {
                case VhostUserRequest.GET_FEATURES:
                    return VhostUserProtocol.U64(OfferedFeatures);
                case VhostUserRequest.SET_FEATURES:
                {
                    var features = ReadU64(message);
                    if ((features & ~OfferedFeatures) != 0)
                    {
                        throw new RefusedException($"features 0x{features:X} include some never offered (0x{OfferedFeatures:X})");
                    }
                    StopDevice("features changed");
                    _features = features;
                    if ((features & VhostUserFeatures.Bit(VhostUserFeatures.VHOST_USER_F_PROTOCOL_FEATURES)) == 0)
                    {
                        // "Communication" > "Ring states": without protocol features every ring is enabled at once.
                        foreach (var vring in _vrings)
                        {
                            vring.Enabled = true;
                        }
                    }
                    return null;
                }
                case VhostUserRequest.GET_PROTOCOL_FEATURES:
                    return VhostUserProtocol.U64(owner.OfferedProtocolFeatures);
                case VhostUserRequest.SET_PROTOCOL_FEATURES:
                {
                    var features = ReadU64(message);
                    if ((features & ~owner.OfferedProtocolFeatures) != 0)
                    {
                        throw new RefusedException($"protocol features 0x{features:X} include some never offered (0x{owner.OfferedProtocolFeatures:X})");
                    }
                    _protocolFeatures = features;
                    return null;
                }
                case VhostUserRequest.SET_OWNER:
                    return null;
                case VhostUserRequest.RESET_OWNER:
                    // Deprecated; the specification recommends treating it as "disable all rings".
                    StopDevice("RESET_OWNER");
                    foreach (var vring in _vrings)
                    {
                        vring.Enabled = false;
                    }
                    return null;
                case VhostUserRequest.SET_MEM_TABLE:
                    SetMemoryTable(message);
                    return null;
                case VhostUserRequest.SET_VRING_NUM:
                {
                    var (vring, num) = ReadState(message);
                    if (num == 0 || num > Options.MaxQueueSize || (num & (num - 1)) != 0)
                    {
                        throw new RefusedException($"queue size {num} is not a power of 2 up to {Options.MaxQueueSize}");
                    }
                    StopDevice("queue size changed");
                    vring.Size = (ushort)num;
                    return null;
                }
                case VhostUserRequest.SET_VRING_ADDR:
                    SetVringAddress(message);
                    return null;
                case VhostUserRequest.SET_VRING_BASE:
                {
                    var (vring, num) = ReadState(message);
                    if (num > ushort.MaxValue)
                    {
                        throw new RefusedException($"vring base 0x{num:X} uses the reserved bits 16-31");
                    }
                    StopDevice("vring base changed");
                    vring.Base = (ushort)num;
                    return null;
                }
                case VhostUserRequest.GET_VRING_BASE:
                {
                    var (vring, _) = ReadState(message, forReply: true);
                    var index = Array.IndexOf(_vrings, vring);
                    // "Ring states": GET_VRING_BASE stops the ring; it starts again on the next kick descriptor.
                    StopDevice($"GET_VRING_BASE {index}");
                    vring.Kick?.Dispose();
                    vring.Kick = null;
                    var reply = new byte[VhostUserProtocol.VringStateSize];
                    MemoryMarshal.Write(reply, (uint)index);
                    MemoryMarshal.Write(reply.AsSpan(4), (uint)vring.Base);
                    return reply;
                }
                case VhostUserRequest.SET_VRING_KICK:
                {
                    var (vring, fd) = ReadVringFile(message);
                    if (fd is null)
                    {
                        throw new RefusedException("polling instead of a kick descriptor is not supported");
                    }
                    VerifyEventFd(fd, "kick");
                    StopDevice("kick descriptor changed");
                    vring.Kick?.Dispose();
                    vring.Kick = new EventFdNotificationSource(fd, $"vhost-user kick {Array.IndexOf(_vrings, vring)}");
                    return null;
                }
                case VhostUserRequest.SET_VRING_CALL:
                {
                    var (vring, fd) = ReadVringFile(message);
                    if (fd is not null)
                    {
                        VerifyEventFd(fd, "call");
                    }
                    (vring.Call.Swap(fd is null ? null : new EventFdNotifier(fd)) as IDisposable)?.Dispose();
                    return null;
                }
                case VhostUserRequest.SET_VRING_ERR:
                {
                    // Errors are never signalled through it; the descriptor is not kept.
                    var (_, fd) = ReadVringFile(message);
                    fd?.Dispose();
                    return null;
                }
                case VhostUserRequest.GET_QUEUE_NUM:
                    return VhostUserProtocol.U64(QueueCount);
                case VhostUserRequest.SET_VRING_ENABLE:
                {
                    var (vring, num) = ReadState(message);
                    if (num > 1)
                    {
                        throw new RefusedException($"SET_VRING_ENABLE takes 0 or 1, not {num}");
                    }
                    if (num == 0)
                    {
                        StopDevice("ring disabled");
                    }
                    vring.Enabled = num == 1;
                    return null;
                }
                case VhostUserRequest.SET_BACKEND_REQ_FD:
                {
                    if (!Negotiated(VhostUserProtocolFeatures.BACKEND_REQ))
                    {
                        throw new RefusedException("SET_BACKEND_REQ_FD without VHOST_USER_PROTOCOL_F_BACKEND_REQ");
                    }
                    var fd = message.FileDescriptorCount == 1 ? message.TakeFileDescriptor(0) : null;
                    if (fd is null)
                    {
                        throw new RefusedException($"SET_BACKEND_REQ_FD needs exactly one descriptor, got {message.FileDescriptorCount}");
                    }
                    _backendChannel?.Dispose();
                    _backendChannel = new VhostUserChannel(fd);
                    _sharedMapped = false;
                    return null;
                }
                case VhostUserRequest.GET_CONFIG:
                    return GetConfig(message);
                case VhostUserRequest.SET_CONFIG:
                    throw new RefusedException("the virtio-media configuration space is read-only");
                case VhostUserRequest.GET_SHMEM_CONFIG:
                {
                    if (!Negotiated(VhostUserProtocolFeatures.SHMEM))
                    {
                        // An explicit reply is expected, so a refusal cannot be an ack: the connection ends.
                        throw new RefusedException("GET_SHMEM_CONFIG without VHOST_USER_PROTOCOL_F_SHMEM");
                    }
                    var reply = new byte[VhostUserProtocol.SharedMemoryConfigSize];
                    var regions = owner._sharedMemorySize == 0 ? 0u : 1u;
                    MemoryMarshal.Write(reply, in regions);
                    MemoryMarshal.Write(reply.AsSpan(8), in owner._sharedMemorySize);
                    return reply;
                }
                default:
                    throw new RefusedException($"request {message.Request} is not supported");
            }
        }


        /// <summary>Refuses a kick or call descriptor that is no eventfd (disposing it) and makes it non-blocking.</summary>
        private static void VerifyEventFd(UnixFileDescriptor fd, string what)
        {
            try
            {
                EventFd.Verify(fd, what);
            }
            catch
            {
                fd.Dispose();
                throw;
            }
        }

        private static ulong ReadU64(VhostUserMessage message) =>
            message.Payload.Length == VhostUserProtocol.U64Size && message.TryRead<ulong>(0, out var value)
                ? value
                : throw new RefusedException($"request {message.Request}: a u64 payload is 8 bytes, not {message.Payload.Length}");

        private (Vring Vring, uint Num) ReadState(VhostUserMessage message, bool forReply = false)
        {
            if (message.Payload.Length != VhostUserProtocol.VringStateSize || !message.TryRead<uint>(0, out var index) || !message.TryRead<uint>(4, out var num))
            {
                throw forReply
                    ? new VhostUserProtocolException($"request {message.Request}: a vring state is 8 bytes, not {message.Payload.Length}")
                    : new RefusedException($"request {message.Request}: a vring state is 8 bytes, not {message.Payload.Length}");
            }
            if (index >= QueueCount)
            {
                throw forReply
                    ? new VhostUserProtocolException($"request {message.Request}: vring {index} does not exist")
                    : new RefusedException($"request {message.Request}: vring {index} does not exist (virtio-media has {QueueCount})");
            }
            return (_vrings[index], num);
        }

        private (Vring Vring, UnixFileDescriptor? Fd) ReadVringFile(VhostUserMessage message)
        {
            var value = ReadU64(message);
            var index = value & VhostUserProtocol.VringIndexMask;
            if (index >= QueueCount || (value & ~(VhostUserProtocol.VringIndexMask | VhostUserProtocol.InvalidFdFlag)) != 0)
            {
                throw new RefusedException($"request {message.Request}: 0x{value:X} names no vring of {QueueCount}");
            }
            var noFd = (value & VhostUserProtocol.InvalidFdFlag) != 0;
            if (message.FileDescriptorCount != (noFd ? 0 : 1))
            {
                throw new RefusedException($"request {message.Request}: {message.FileDescriptorCount} descriptors with the invalid-FD flag {(noFd ? "set" : "clear")}");
            }
            return (_vrings[index], noFd ? null : message.TakeFileDescriptor(0));
        }

        private void SetVringAddress(VhostUserMessage message)
        {
            if (message.Payload.Length != VhostUserProtocol.VringAddressSize)
            {
                throw new RefusedException($"a vring address is {VhostUserProtocol.VringAddressSize} bytes, not {message.Payload.Length}");
            }
            message.TryRead<uint>(0, out var index);
            message.TryRead<uint>(4, out var flags);
            message.TryRead<ulong>(8, out var descriptor);
            message.TryRead<ulong>(16, out var used);
            message.TryRead<ulong>(24, out var available);
            if (index >= QueueCount)
            {
                throw new RefusedException($"vring {index} does not exist");
            }
            if ((flags & VhostUserProtocol.VringFlagLog) != 0)
            {
                throw new RefusedException("used-ring logging is not supported (VHOST_F_LOG_ALL is never offered)");
            }
            // Checked now when possible so the front-end hears about a bad address from this message.
            foreach (var address in (ReadOnlySpan<ulong>)[descriptor, used, available])
            {
                if (_memory is not null && !_table.TryTranslate(address, out _))
                {
                    throw new RefusedException($"ring address 0x{address:X} is in no memory region");
                }
            }
            StopDevice("ring addresses changed");
            var vring = _vrings[index];
            (vring.DescriptorUser, vring.UsedUser, vring.AvailableUser, vring.AddressSet) = (descriptor, used, available, true);
        }

        private void SetMemoryTable(VhostUserMessage message)
        {
            if (!message.TryRead<uint>(0, out var count) || count > VhostUserProtocol.MaxMemoryRegions)
            {
                throw new RefusedException($"a memory table has 0 to {VhostUserProtocol.MaxMemoryRegions} regions");
            }
            // QEMU sends only the regions in use; the full 8-slot table is accepted too.
            var needed = VhostUserProtocol.MemoryTableHeaderSize + (int)count * VhostUserProtocol.MemoryRegionSize;
            var full = VhostUserProtocol.MemoryTableHeaderSize + VhostUserProtocol.MaxMemoryRegions * VhostUserProtocol.MemoryRegionSize;
            if (message.Payload.Length != needed && message.Payload.Length != full)
            {
                throw new RefusedException($"a memory table of {count} regions is {needed} (or {full}) bytes, not {message.Payload.Length}");
            }
            if (message.FileDescriptorCount != count)
            {
                throw new RefusedException($"a memory table of {count} regions came with {message.FileDescriptorCount} descriptors");
            }
            var regions = new MemoryTableSnapshot.Description[count];
            var files = new List<UnixFileDescriptor>();
            MemoryTableSnapshot table;
            try
            {
                for (var i = 0; i < count; i++)
                {
                    var offset = VhostUserProtocol.MemoryTableHeaderSize + i * VhostUserProtocol.MemoryRegionSize;
                    message.TryRead<ulong>(offset, out var guest);
                    message.TryRead<ulong>(offset + 8, out var size);
                    message.TryRead<ulong>(offset + 16, out var user);
                    message.TryRead<ulong>(offset + 24, out var mmapOffset);
                    var fd = message.TakeFileDescriptor(i)!;
                    files.Add(fd);
                    if (size == 0 || mmapOffset + size < mmapOffset || guest + size < guest || user + size < user)
                    {
                        throw new RefusedException($"region {i} [0x{guest:X}, +{size}) at file offset 0x{mmapOffset:X} is empty or wraps");
                    }
                    if (!MemoryMapping.TrySealAgainstShrinking(fd) && !Options.AcceptUnsealableMemory)
                    {
                        throw new RefusedException($"region {i}: its file cannot be sealed against shrinking (a truncation would be SIGBUS here); see {nameof(VhostUserBackendOptions.AcceptUnsealableMemory)}");
                    }
                    regions[i] = new MemoryTableSnapshot.Description(guest, size, user, mmapOffset, fd);
                }
                // Files already mapped for the current table keep their mapping (mapped from offset 0,
                // so an mmap offset need not be page-aligned).
                table = MemoryTableSnapshot.Create(regions, _table);
            }
            finally
            {
                foreach (var fd in files)
                {
                    fd.Dispose();
                }
            }
            try
            {
                if (_running is not null && !RingsStayInPlace(table))
                {
                    StopDevice("memory table moved the rings");
                }
                if (_memory is null)
                {
                    _memory = new GuestMemory(table.Regions);
                }
                else
                {
                    _memory.Replace(table.Regions);
                }
            }
            catch
            {
                table.Release();
                throw;
            }
            var previous = _table;
            _table = table;
            // A running device keeps its queues and sessions; it may access the new table from now on,
            // and the old one until it finishes (it holds that one since it started or saw it).
            _running?.Hold(table.AddReference());
            previous.Release();
            Options.Log?.Invoke($"memory table: {count} regions{(_running is null ? "" : ", swapped while the device runs")}");
        }

        /// <summary>Whether every ring of the running device is at the same guest address in <paramref name="table"/>.</summary>
        private bool RingsStayInPlace(MemoryTableSnapshot table)
        {
            foreach (var vring in _vrings)
            {
                foreach (var user in (ReadOnlySpan<ulong>)[vring.DescriptorUser, vring.AvailableUser, vring.UsedUser])
                {
                    if (!_table.TryTranslate(user, out var before) || !table.TryTranslate(user, out var after) || before != after)
                    {
                        return false;
                    }
                }
            }
            return true;
        }

        private byte[] GetConfig(VhostUserMessage message)
        {
            // "vhost-user back-end uses zero length of payload to indicate an error".
            if (!message.TryRead<uint>(0, out var offset) || !message.TryRead<uint>(4, out var size) || !message.TryRead<uint>(8, out var flags)
                || size > VhostUserProtocol.MaxConfigSize || message.Payload.Length != VhostUserProtocol.ConfigHeaderSize + size
                || (ulong)offset + size > (ulong)Options.Config.Length)
            {
                Options.Log?.Invoke($"GET_CONFIG refused: {message.Payload.Length}-byte request outside the {Options.Config.Length}-byte config space");
                return [];
            }
            var reply = new byte[VhostUserProtocol.ConfigHeaderSize + size];
            MemoryMarshal.Write(reply, in offset);
            MemoryMarshal.Write(reply.AsSpan(4), in size);
            MemoryMarshal.Write(reply.AsSpan(8), in flags);
            Options.Config.Span.Slice((int)offset, (int)size).CopyTo(reply.AsSpan(VhostUserProtocol.ConfigHeaderSize));
            return reply;
        }

        private void TryStart()
        {
            if (_running is not null || _memory is null)
            {
                return;
            }
            foreach (var vring in _vrings)
            {
                if (vring.Size == 0 || !vring.AddressSet || vring.Kick is null || !vring.Enabled)
                {
                    return;
                }
            }
            var eventIndex = (_features & VhostUserFeatures.Bit(VhostUserFeatures.VIRTIO_F_RING_EVENT_IDX)) != 0;
            var queues = new DeviceQueue[QueueCount];
            for (var i = 0; i < QueueCount; i++)
            {
                var vring = _vrings[i];
                if (!_table.TryTranslate(vring.DescriptorUser, out var descriptors) || !_table.TryTranslate(vring.AvailableUser, out var available) || !_table.TryTranslate(vring.UsedUser, out var used))
                {
                    throw new VhostUserProtocolException($"vring {i}: ring addresses are in no memory region");
                }
                try
                {
                    queues[i] = new DeviceQueue(_memory, new SplitQueueLayout(vring.Size, descriptors, available, used), eventIndex, vring.Base);
                }
                catch (Exception error) when (error is ArgumentException or GuestMemoryException)
                {
                    throw new VhostUserProtocolException($"vring {i}: {error.Message}");
                }
            }
            if (_sharedRegion is null && owner._sharedMemorySize > 0 && Negotiated(VhostUserProtocolFeatures.SHMEM))
            {
                _sharedFile = MemoryFile.Create("virtio-media-shm0", owner._sharedMemorySize);
                _sharedRegion = new SharedMemoryRegion(0, _sharedFile.Mapping.Address, _sharedFile.Length);
            }
            var transport = new VhostUserDeviceTransport(
                _memory, queues[0], queues[1], _vrings[0].Kick!, _vrings[1].Kick!, _vrings[0].Call, _vrings[1].Call,
                Negotiated(VhostUserProtocolFeatures.SHMEM) && _sharedRegion is not null ? _sharedRegion : NoSharedMemory);
            var stop = CancellationTokenSource.CreateLinkedTokenSource(_connectionToken);
            var running = new DeviceRun(transport, stop, _table.AddReference());
            _running = running;
            var mapped = MapSharedMemory(running);
            running.Serve(Task.Run(async () =>
            {
                await mapped.ConfigureAwait(false);
                await owner._serve(transport, stop.Token).ConfigureAwait(false);
            }));
            Options.Log?.Invoke($"device started: queues of {_vrings[0].Size} and {_vrings[1].Size}, event index {(eventIndex ? "on" : "off")}");
        }

        private void StopDevice(string reason)
        {
            var running = _running;
            if (running is null)
            {
                return;
            }
            _running = null;
            lock (running)
            {
                running.Stopped = true;
            }
            running.Stop.Cancel();
            try
            {
                // However long it takes: the rings' bases are only true once the device has finished, and the
                // memory it reaches (region 0 included) is released only after it.
                var waited = TimeSpan.Zero;
                while (!running.Serving.Wait(Options.StopTimeout))
                {
                    waited += Options.StopTimeout;
                    Options.Log?.Invoke($"device still stopping after {waited} ({reason})");
                }
            }
            catch (AggregateException error) when (error.InnerException is OperationCanceledException)
            {
            }
            catch (AggregateException error)
            {
                Options.Log?.Invoke($"device failed: {error.InnerException?.Message}");
            }
            running.Stop.Dispose();
            _vrings[0].Base = running.Transport.CommandQueue.NextAvailable;
            _vrings[1].Base = running.Transport.EventQueue.NextAvailable;
            // No SHMEM_UNMAP: the front-end drops every mapping across a reset ("Back-end message types",
            // SHMEM_MAP), and QEMU 11.1.3 crashes on one that reaches its stopped device. The next start maps again.
            _sharedMapped = false;
            Options.Log?.Invoke($"device stopped: {reason}");
        }

        /// <summary>Queues SHMEM_MAP of the whole region for <paramref name="running"/>; completes when
        /// the front-end acknowledged it (at once when there is nothing to map, or when the device stopped
        /// before the request could be sent). A refusal is logged and the device served all the same: the
        /// region may still be mapped from before a stop that was no reset.</summary>
        private Task MapSharedMemory(DeviceRun running)
        {
            if (_sharedFile is null || _backendChannel is null || _sharedMapped || !Negotiated(VhostUserProtocolFeatures.SHMEM))
            {
                return Task.CompletedTask;
            }
            _sharedMapped = true;
            var request = MmapRequest(0, _sharedFile.Length, VhostUserProtocol.MapReadWrite);
            var map = EnqueueBackendRequest(VhostUserBackendRequest.SHMEM_MAP, request, _sharedFile.Descriptor, running);
            return map.ContinueWith(
                t =>
                {
                    if (t.IsFaulted)
                    {
                        Interlocked.Increment(ref owner._refusedSharedMemoryMaps);
                        Options.Log?.Invoke($"SHMEM_MAP of region 0 refused or unanswered, the guest has no MMAP memory until the next start: {t.Exception?.InnerException?.Message}");
                    }
                },
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        private static byte[] MmapRequest(ulong shmOffset, ulong length, ulong flags)
        {
            var request = new byte[VhostUserProtocol.MmapRequestSize];
            request[0] = 0; // shmid 0, then 7 bytes of padding
            MemoryMarshal.Write(request.AsSpan(8), 0UL); // fd_offset
            MemoryMarshal.Write(request.AsSpan(16), in shmOffset);
            MemoryMarshal.Write(request.AsSpan(24), in length);
            MemoryMarshal.Write(request.AsSpan(32), in flags);
            return request;
        }

        /// <summary>Sends a back-end request after the ones before it, off the message loop, and only
        /// while <paramref name="running"/> has not stopped (checked under its lock, which the stop takes
        /// before it answers the front-end).</summary>
        private Task EnqueueBackendRequest(uint request, byte[] payload, UnixFileDescriptor? fd, DeviceRun running)
        {
            var trace = Options.Trace;
            var channelAtSend = _backendChannel!;
            var ack = Negotiated(VhostUserProtocolFeatures.REPLY_ACK);
            var timeout = Options.ReplyTimeout;
            var previous = _backendTail;
            var next = Task.Run(async () =>
            {
                await previous.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
                var flags = VhostUserProtocol.Version | (ack ? VhostUserProtocol.NeedReplyFlag : 0);
                lock (running)
                {
                    if (running.Stopped)
                    {
                        Options.Log?.Invoke($"back-end request {request} not sent: the device stopped first");
                        return;
                    }
                    // Traced before it is sent: the front-end's reaction (QEMU's next memory table) can
                    // otherwise be traced by the message loop first.
                    trace?.Invoke(VhostUserTrace.Format(VhostUserTrace.BackendChannel, VhostUserTrace.FromBackend, request, flags, payload, fd is null ? 0 : 1));
                    channelAtSend.Send(request, flags, payload, fd is null ? default : [fd]);
                }
                if (!ack)
                {
                    return;
                }
                using var reply = channelAtSend.Receive(timeout) ?? throw new VhostUserProtocolException($"the back-end channel closed before the reply to {request}");
                trace?.Invoke(VhostUserTrace.Format(VhostUserTrace.BackendChannel, VhostUserTrace.FromFrontend, reply.Request, reply.Flags, reply.Payload, reply.FileDescriptorCount));
                if (!reply.IsReply || reply.Request != request || !reply.TryRead<ulong>(0, out var status))
                {
                    throw new VhostUserProtocolException($"back-end request {request}: unexpected reply {reply.Request} of {reply.Payload.Length} bytes");
                }
                if (status != 0)
                {
                    throw new VhostUserProtocolException($"back-end request {request} refused with {status}");
                }
            });
            _backendTail = next;
            return next;
        }

        private void ReleaseMemory()
        {
            _memory = null;
            _table.Release();
            _table = MemoryTableSnapshot.Empty;
        }

        private void Close()
        {
            StopDevice("connection closed");
            try
            {
                _backendTail.Wait(Options.ReplyTimeout);
            }
            catch (AggregateException)
            {
            }
            _backendChannel?.Dispose();
            foreach (var vring in _vrings)
            {
                vring.Kick?.Dispose();
                (vring.Call.Swap(null) as IDisposable)?.Dispose();
            }
            ReleaseMemory();
            _sharedRegion?.Dispose();
            _sharedFile?.Dispose();
            channel.Dispose();
        }
    }
}
