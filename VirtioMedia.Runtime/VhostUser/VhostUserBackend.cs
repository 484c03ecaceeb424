using System;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Transport;

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
public sealed partial class VhostUserBackend
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
        : this(options, (transport, token) => RunDeviceAsync(createDevice, stopping, options.Log, transport, token))
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

    private static async Task RunDeviceAsync(Func<IDeviceTransport, DeviceEndpoint> createDevice, Action<DeviceEndpoint>? stopping, Action<string>? log, IDeviceTransport transport, CancellationToken cancellationToken)
    {
        var endpoint = createDevice(transport);
        // Once per queue: a broken queue reads nothing more, however often the front-end kicks it.
        endpoint.QueueBroken += (queue, error) => log?.Invoke($"queue {queue} broken, the device needs a reset: {error.Message}");
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
}
