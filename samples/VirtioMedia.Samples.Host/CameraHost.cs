using System;
using System.IO;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using VirtioMedia.Abi;
using VirtioMedia.Proxy;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.VhostUser;
using VirtioMedia.Runtime.Wire;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Samples.Host;

/// <summary>Serves one <see cref="VirtualCamera"/>, or a host V4L2 node through <see cref="V4l2Proxy"/>, over a vhost-user socket, one front-end at a time.</summary>
internal static class CameraHost
{
    public static async Task<int> RunAsync(HostSettings settings, ILogger log, TextWriter output, CancellationToken cancellationToken)
    {
        // The device: the virtual camera, or a host V4L2 node served through the proxy (--proxy).
        VirtualCamera? camera = null;
        V4l2Proxy? proxy = null;
        try
        {
            if (settings.ProxyNode is { } node)
            {
                proxy = new V4l2Proxy(node);
            }
            else
            {
                camera = new VirtualCamera(settings.Camera);
            }
        }
        catch (ArgumentException exception)
        {
            // For one, --formats naming a format the chosen --api does not offer.
            log.LogError("{Message}", exception.Message);
            return 2;
        }
        catch (IOException exception)
        {
            log.LogError("{Message}", exception.Message);
            return 2;
        }
        var configBytes = new byte[Unsafe.SizeOf<virtio_media_config>()];
        var config = proxy?.Config ?? camera!.Config;
        if (!ConfigSpace.TryEncode(in config, configBytes))
        {
            log.LogError("the configuration space does not fit a vhost-user config message");
            return 1;
        }
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions
            {
                Config = configBytes,
                SharedMemorySize = settings.SharedMemoryBytes,
                AcceptUnsealableMemory = settings.AcceptUnsealableMemory,
                Log = message => log.LogDebug("vhost-user: {Message}", message),
                Trace = settings.TraceVhostUser ? line => log.LogInformation("vhost-user trace: {Line}", line) : null,
            },
            transport =>
            {
                log.LogInformation("device started");
                return proxy?.CreateEndpoint(transport) ?? camera!.CreateEndpoint(transport);
            },
            endpoint =>
            {
                // Before the back-end releases the front-end's memory: no frame may be written after that.
                camera?.StopStreams();
                log.LogInformation("device stopping (sessions {Sessions}, handler faults {Faults}, protocol errors {Errors})",
                    endpoint.SessionCount, endpoint.HandlerFaults, endpoint.ProtocolErrors);
            });

        VhostUserListener listener;
        try
        {
            listener = VhostUserListener.Listen(settings.SocketPath);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            log.LogError("cannot listen on {Socket}: {Message}", settings.SocketPath, exception.Message);
            return 2;
        }
        using (listener)
        {
            await output.WriteLineAsync($"listening on {settings.SocketPath}").ConfigureAwait(false);
            await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            if (proxy is not null)
            {
                log.LogInformation("serving {Node} (\"{Card}\", device caps 0x{Caps:X8}) on {Socket}", proxy.NodePath, proxy.Card, proxy.DeviceCaps, settings.SocketPath);
            }
            else
            {
                log.LogInformation("serving \"{Card}\" on {Socket} (api: {Api}, memory: {Memory}, shared memory: {SharedMemory} bytes, fast: {Fast}, frame limit: {Limit})",
                    settings.Camera.Card, settings.SocketPath, settings.Camera.Api, settings.Camera.Memory, settings.SharedMemoryBytes, settings.Camera.Fast, settings.Camera.FrameLimit);
            }
            while (!cancellationToken.IsCancellationRequested)
            {
                VhostUserChannel channel;
                try
                {
                    channel = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                log.LogInformation("front-end connected");
                await backend.ServeConnectionAsync(channel, cancellationToken).ConfigureAwait(false);
                log.LogInformation("front-end disconnected");
                if (settings.ExitOnDisconnect)
                {
                    break;
                }
            }
        }
        log.LogInformation("stopped");
        return 0;
    }
}
