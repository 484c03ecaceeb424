using System;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Tests.Runtime;

/// <summary>A driver endpoint and a device endpoint connected by an in-process transport.</summary>
internal sealed class RuntimeRig : IAsyncDisposable
{
    private RuntimeRig(InProcessTransport transport, DeviceEndpoint device, DriverEndpoint driver)
    {
        Transport = transport;
        Device = device;
        Driver = driver;
    }

    public InProcessTransport Transport { get; }

    public DeviceEndpoint Device { get; }

    public DriverEndpoint Driver { get; }

    public static RuntimeRig Start(Func<DeviceSession, V4l2DeviceHandler<DeviceIoctlContext>>? handlers = null, DriverEndpointOptions? options = null, VirtioObjectRegistry? objects = null, virtio_media_config? config = null)
    {
        var transport = new InProcessTransport();
        var device = new DeviceEndpoint(transport, config ?? TestCaptureDevice.Config, handlers ?? (_ => new TestCaptureDevice()), objects);
        transport.Config = device.Config;
        var driver = DriverEndpoint.Start(transport.Driver, options ?? new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(5) });
        device.Start();
        return new RuntimeRig(transport, device, driver);
    }

    public async ValueTask DisposeAsync()
    {
        await Driver.DisposeAsync();
        await Device.DisposeAsync();
        Transport.Dispose();
    }
}
