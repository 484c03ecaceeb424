using System;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Compliance.Targets;

/// <summary>
/// The device under test. Every test gets a connection of its own (a new in-process endpoint, or a new vhost-user
/// front-end connection), so a test that leaves the device hung or broken does not decide the next test's result.
/// </summary>
public abstract class ComplianceTarget
{
    /// <summary>What the report calls the target (the socket path, or "in-process").</summary>
    public abstract string Description { get; }

    /// <summary>
    /// A device served in this process: <paramref name="config"/> is the configuration space the driver reads and
    /// <paramref name="handlerFactory"/> makes the handler of each session, exactly as for a <see cref="DeviceEndpoint"/>.
    /// </summary>
    public static ComplianceTarget InProcess(
        virtio_media_config config,
        Func<DeviceSession, V4l2DeviceHandler<DeviceIoctlContext>> handlerFactory,
        InProcessTargetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(handlerFactory);
        return new InProcessTarget(transport => new DeviceEndpoint(transport, config, handlerFactory, options?.Objects, options?.Endpoint), null, options ?? new InProcessTargetOptions());
    }

    /// <summary>
    /// A device served in this process by an endpoint the caller builds over the given transport (for a device that
    /// makes its own endpoints, such as the sample camera's <c>CreateEndpoint</c>). <paramref name="beforeStop"/> runs
    /// before an endpoint is stopped and its transport memory freed (to stop a device's own frame threads).
    /// </summary>
    public static ComplianceTarget InProcess(
        Func<IDeviceTransport, DeviceEndpoint> endpointFactory,
        Action<DeviceEndpoint>? beforeStop = null,
        InProcessTargetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpointFactory);
        return new InProcessTarget(endpointFactory, beforeStop, options ?? new InProcessTargetOptions());
    }

    /// <summary>A vhost-user back-end listening on <paramref name="socketPath"/>; the suite connects as the front-end.</summary>
    public static ComplianceTarget VhostUser(string socketPath, VhostUserFrontendOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        return new VhostUserTarget(socketPath, options ?? new VhostUserFrontendOptions { MemorySize = 96UL << 20, Timeout = TimeSpan.FromSeconds(5) });
    }

    /// <summary>Connects a driver transport to the device; disposing the connection tears it down.</summary>
    internal abstract Task<TargetConnection> ConnectAsync(CancellationToken cancellationToken);
}

/// <summary>Settings of an in-process target.</summary>
public sealed class InProcessTargetOptions
{
    /// <summary>Driver memory (rings, command buffers, SHARED_PAGES buffers).</summary>
    public ulong GuestMemorySize { get; init; } = 32UL << 20;

    /// <summary>Size of shared memory region 0 (MMAP buffers); 0 for none.</summary>
    public ulong SharedMemorySize { get; init; } = 32UL << 20;

    /// <summary>The virtio object registry given to endpoints made from a handler factory (a private one when null).</summary>
    public VirtioObjectRegistry? Objects { get; init; }

    /// <summary>Endpoint bounds for endpoints made from a handler factory (the defaults when null).</summary>
    public DeviceEndpointOptions? Endpoint { get; init; }
}
