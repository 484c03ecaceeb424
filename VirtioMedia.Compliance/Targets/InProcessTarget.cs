using System;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Compliance.Targets;

/// <summary>A device endpoint over an <see cref="InProcessTransport"/>, one per connection.</summary>
internal sealed class InProcessTarget(Func<IDeviceTransport, DeviceEndpoint> endpointFactory, Action<DeviceEndpoint>? beforeStop, InProcessTargetOptions options)
    : ComplianceTarget
{
    // A handler stuck in a command must not hold the suite: the endpoint's drain is bounded, then abandoned.
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(3);

    public override string Description => "in-process";

    internal override Task<TargetConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var transport = new InProcessTransport(options.GuestMemorySize, options.SharedMemorySize);
        DeviceEndpoint device;
        try
        {
            device = endpointFactory(transport);
            transport.Config = device.Config;
            device.Start();
        }
        catch
        {
            transport.Dispose();
            throw;
        }
        return Task.FromResult(new TargetConnection(transport.Driver, async () =>
        {
            beforeStop?.Invoke(device);
            var stopped = device.StopAsync(StopTimeout);
            if (await Task.WhenAny(stopped, Task.Delay(StopTimeout + StopTimeout)).ConfigureAwait(false) == stopped)
            {
                await device.DisposeAsync().ConfigureAwait(false);
                transport.Dispose();
            }
            // Otherwise a handler never returned: its memory stays mapped (leaked) rather than freed under it.
        }));
    }
}
