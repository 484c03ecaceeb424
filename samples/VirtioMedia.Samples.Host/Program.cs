using System;
using System.CommandLine;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Samples.Host;

/// <summary>The command line of the sample host.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var socket = new Option<string>("--socket") { Description = "Path of the vhost-user Unix socket to listen on", Required = true };
        var card = new Option<string>("--card") { Description = "Card name the device reports", DefaultValueFactory = _ => new CameraOptions().Card };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Minimum level of the log written to standard error", DefaultValueFactory = _ => LogLevel.Information };
        var exitOnDisconnect = new Option<bool>("--exit-on-disconnect") { Description = "Exit when the first front-end disconnects instead of waiting for the next" };
        var fast = new Option<bool>("--fast") { Description = "Produce frames as fast as buffers are queued instead of at the frame interval" };
        var fillOnly = new Option<bool>("--fill-only") { Description = "Copy one precomputed frame into every buffer instead of rendering the moving pattern (benchmarks)" };
        var frameLimit = new Option<long>("--frame-limit") { Description = "End each stream after this many frames (V4L2_EVENT_EOS); 0 for no limit" };
        var sharedMemory = new Option<int>("--shared-memory-mib") { Description = "Size of shared memory region 0 (MMAP buffers), in MiB; 0 for none (no vhost-user SHMEM, then no MMAP buffers)", DefaultValueFactory = _ => 256 };
        var trace = new Option<bool>("--trace-vhost-user") { Description = "Log every vhost-user message (request, flags, size, descriptor count, payload in hex) to standard error" };
        var acceptUnsealable = new Option<bool>("--accept-unsealable-memory") { Description = "Accept guest memory in a file that cannot be sealed against shrinking (a memory-backend-file on /dev/shm); a truncation of that file under the mapping kills the host with SIGBUS" };
        var api = new Option<string>("--api") { Description = "Capture API of the node: single-planar (YUYV, RGB24, NV12) or multi-planar (YUYV, RGB24, NV12, NV12M)", DefaultValueFactory = _ => "single-planar" };
        api.AcceptOnlyFromAmong("single-planar", "multi-planar");
        var memory = new Option<string>("--memory") { Description = "Buffer memory types accepted, a comma list of mmap, shared-pages, virtio-object", DefaultValueFactory = _ => "mmap,shared-pages,virtio-object" };
        var proxyNode = new Option<string>("--proxy") { Description = "Serve this host V4L2 node (/dev/videoN) through the proxy instead of the virtual camera; the camera options are then ignored" };
        var formats = new Option<string>("--formats") { Description = "Pixel formats offered, a comma list in ENUM_FMT order (YUYV, NV12, NV12M, RGB24; those of the API); all of the API's when absent" };
        formats.Validators.Add(result =>
        {
            if (!HostSettings.TryParseFormats(result.GetValueOrDefault<string>() ?? "", out _, out var error))
            {
                result.AddError(error);
            }
        });
        memory.Validators.Add(result =>
        {
            if (!HostSettings.TryParseMemory(result.GetValueOrDefault<string>() ?? "", out _, out var error))
            {
                result.AddError(error);
            }
        });

        var root = new RootCommand("Serves a virtual V4L2 camera (virtio-media device) over a vhost-user socket.")
        {
            socket, card, logLevel, exitOnDisconnect, fast, fillOnly, frameLimit, sharedMemory, api, memory, formats, trace, acceptUnsealable, proxyNode,
        };
        sharedMemory.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 0)
            {
                result.AddError("--shared-memory-mib takes 0 or more");
            }
        });
        root.SetAction(async (parse, cancellationToken) =>
        {
            HostSettings.TryParseMemory(parse.GetValue(memory)!, out var memoryTypes, out _);
            var formatList = parse.GetValue(formats);
            uint[]? pixelFormats = null;
            if (formatList is not null)
            {
                HostSettings.TryParseFormats(formatList, out pixelFormats, out _);
            }
            var settings = new HostSettings
            {
                SocketPath = parse.GetValue(socket)!,
                ExitOnDisconnect = parse.GetValue(exitOnDisconnect),
                SharedMemoryBytes = (ulong)parse.GetValue(sharedMemory) << 20,
                TraceVhostUser = parse.GetValue(trace),
                AcceptUnsealableMemory = parse.GetValue(acceptUnsealable),
                ProxyNode = parse.GetValue(proxyNode),
                Camera = new CameraOptions
                {
                    Card = parse.GetValue(card) ?? new CameraOptions().Card,
                    Fast = parse.GetValue(fast),
                    FillOnly = parse.GetValue(fillOnly),
                    FrameLimit = Math.Max(0, parse.GetValue(frameLimit)),
                    Api = parse.GetValue(api) == "multi-planar" ? CameraApi.MultiPlanar : CameraApi.SinglePlanar,
                    Memory = memoryTypes,
                    PixelFormats = pixelFormats,
                },
            };
            using var loggers = LoggerFactory.Create(builder => builder
                .SetMinimumLevel(parse.GetValue(logLevel))
                .AddSimpleConsole(options => options.SingleLine = true)
                // Standard output carries only the "listening on" line other programs wait for.
                .AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace));
            return await CameraHost.RunAsync(settings, loggers.CreateLogger("host"), Console.Out, cancellationToken).ConfigureAwait(false);
        });
        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
    }
}
