using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.VhostUser;
using VirtioMedia.Runtime.Wire;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.TestDevices.Host;

/// <summary>
/// Serves a <see cref="BrokenCamera"/> over a vhost-user socket, one front-end at a time: the camera as the
/// real-guest check's single-planar configuration has it (MMAP and SHARED_PAGES, YUYV and RGB24), one rule broken.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var socket = new Option<string>("--socket") { Description = "Path of the vhost-user Unix socket to listen on", Required = true };
        var rule = new Option<string>("--break") { Description = "The rule to break: " + string.Join(", ", BrokenCamera.Rules.Select(BrokenCamera.NameOf)), Required = true };
        rule.Validators.Add(result =>
        {
            if (!BrokenCamera.TryParse(result.GetValueOrDefault<string>() ?? "", out _))
            {
                result.AddError($"--break: unknown rule (one of {string.Join(", ", BrokenCamera.Rules.Select(BrokenCamera.NameOf))})");
            }
        });
        var api = new Option<string>("--api") { Description = "Capture API of the node", DefaultValueFactory = _ => "single-planar" };
        api.AcceptOnlyFromAmong("single-planar", "multi-planar");
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Minimum level of the log written to standard error", DefaultValueFactory = _ => LogLevel.Information };
        var root = new RootCommand("Serves the sample camera with one V4L2 rule broken (a test device) over a vhost-user socket.") { socket, rule, api, logLevel };
        root.SetAction(async (parse, cancellationToken) =>
        {
            BrokenCamera.TryParse(parse.GetValue(rule)!, out var broken);
            var multiPlanar = parse.GetValue(api) == "multi-planar";
            var device = new BrokenCamera(broken, new CameraOptions
            {
                Api = multiPlanar ? CameraApi.MultiPlanar : CameraApi.SinglePlanar,
                Memory = MemoryTypes.Mmap | MemoryTypes.SharedPages,
                PixelFormats = [Constants.V4L2_PIX_FMT_YUYV, Constants.V4L2_PIX_FMT_RGB24],
            });
            using var loggers = LoggerFactory.Create(builder => builder
                .SetMinimumLevel(parse.GetValue(logLevel))
                .AddSimpleConsole(options => options.SingleLine = true)
                .AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace));
            return await ServeAsync(device, parse.GetValue(socket)!, loggers.CreateLogger("test-device"), cancellationToken).ConfigureAwait(false);
        });
        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
    }

    private static async Task<int> ServeAsync(BrokenCamera device, string socketPath, ILogger log, CancellationToken cancellationToken)
    {
        var configBytes = new byte[Unsafe.SizeOf<virtio_media_config>()];
        var config = device.Config;
        if (!ConfigSpace.TryEncode(in config, configBytes))
        {
            log.LogError("the configuration space does not fit a vhost-user config message");
            return 1;
        }
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions { Config = configBytes, SharedMemorySize = 256UL << 20, Log = message => log.LogDebug("vhost-user: {Message}", message) },
            transport => device.CreateEndpoint(transport),
            endpoint =>
            {
                // No frame may be written after the back-end releases the front-end's memory.
                device.StopStreams();
                log.LogInformation("device stopping (handler faults {Faults}, protocol errors {Errors})", endpoint.HandlerFaults, endpoint.ProtocolErrors);
            });
        VhostUserListener listener;
        try
        {
            listener = VhostUserListener.Listen(socketPath);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            log.LogError("cannot listen on {Socket}: {Message}", socketPath, exception.Message);
            return 2;
        }
        using (listener)
        {
            Console.Out.WriteLine($"listening on {socketPath}");
            Console.Out.Flush();
            log.LogInformation("serving the camera with rule {Rule} broken on {Socket}", BrokenCamera.NameOf(device.Rule), socketPath);
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
                await backend.ServeConnectionAsync(channel, cancellationToken).ConfigureAwait(false);
            }
        }
        return 0;
    }
}
