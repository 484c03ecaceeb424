using System;
using System.CommandLine;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Spectre.Console;
using VirtioMedia.Abi;
using VirtioMedia.Compliance;
using VirtioMedia.Compliance.Reporting;
using VirtioMedia.Compliance.Targets;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Compliance.Cli;

/// <summary>The command line: which device, how to run, how to print. Exit 0 only when no test failed.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var socket = new Option<string>("--socket") { Description = "Test the vhost-user back-end listening on this Unix socket" };
        var exec = new Option<string>("--exec") { Description = "Start this back-end command ({socket} is replaced by a fresh socket path), wait for its socket, test it, stop it" };
        var api = new Option<string>("--api") { Description = "In-process sample camera: single-planar or multi-planar", DefaultValueFactory = _ => "single-planar" };
        api.AcceptOnlyFromAmong("single-planar", "multi-planar");
        var memory = new Option<string>("--memory") { Description = "In-process sample camera: memory types, a comma list of mmap, shared-pages, virtio-object", DefaultValueFactory = _ => "mmap,shared-pages,virtio-object" };
        var formats = new Option<string>("--formats") { Description = "In-process sample camera: pixel formats, a comma list of YUYV, NV12, NV12M, RGB24" };
        var sharedMemory = new Option<int>("--shared-memory-mib") { Description = "In-process sample camera: size of shared memory region 0 in MiB (0 for none)", DefaultValueFactory = _ => 32 };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON instead of text" };
        var noStreaming = new Option<bool>("--no-streaming") { Description = "Skip the streaming tests" };
        var frames = new Option<int>("--frames") { Description = "Frames each streaming test dequeues", DefaultValueFactory = _ => 8 };
        var verbose = new Option<bool>("--verbose") { Description = "Print what each test noted" };
        var only = new Option<string[]>("--only") { Description = "Run only the tests whose name contains one of these strings (repeatable)", AllowMultipleArgumentsPerToken = false };
        var root = new RootCommand("Runs v4l2-compliance's rules and the virtio-media device statements against a virtio-media device, with no virtual machine. Without --socket or --exec it tests the sample camera in process.")
        {
            socket, exec, api, memory, formats, sharedMemory, json, noStreaming, frames, verbose, only,
        };
        root.SetAction(async (parse, cancellationToken) =>
        {
            var selected = parse.GetValue(only);
            var options = new ComplianceOptions
            {
                Streaming = !parse.GetValue(noStreaming),
                StreamFrames = Math.Max(1, parse.GetValue(frames)),
                Only = selected is { Length: > 0 } ? selected : null,
            };
            Process? backend = null;
            string? folder = null;
            try
            {
                ComplianceTarget target;
                if (parse.GetValue(exec) is { } command)
                {
                    folder = Directory.CreateTempSubdirectory("virtio-media-compliance-").FullName;
                    var path = Path.Combine(folder, "device.sock");
                    backend = StartBackend(command.Replace("{socket}", path, StringComparison.Ordinal));
                    if (!await WaitForSocketAsync(backend, path, cancellationToken).ConfigureAwait(false))
                    {
                        await Console.Error.WriteLineAsync($"the back-end did not create {path} within 30 s (or exited)").ConfigureAwait(false);
                        return 4;
                    }
                    target = ComplianceTarget.VhostUser(path);
                }
                else if (parse.GetValue(socket) is { } path)
                {
                    target = ComplianceTarget.VhostUser(path);
                }
                else
                {
                    if (!TryCamera(parse.GetValue(api)!, parse.GetValue(memory)!, parse.GetValue(formats), parse.GetValue(sharedMemory), out target, out var error))
                    {
                        await Console.Error.WriteLineAsync(error).ConfigureAwait(false);
                        return 2;
                    }
                }
                var report = await RunAsync(target, options, parse.GetValue(json), cancellationToken).ConfigureAwait(false);
                if (parse.GetValue(json))
                {
                    Console.Out.WriteLine(report.ToJson());
                }
                else
                {
                    report.WriteText(Console.Out, parse.GetValue(verbose));
                }
                return report.Failed == 0 ? 0 : 1;
            }
            finally
            {
                if (backend is not null)
                {
                    try
                    {
                        backend.Kill(entireProcessTree: true);
                        await backend.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                    }
                    catch (Exception)
                    {
                        // Already gone.
                    }
                    backend.Dispose();
                }
                if (folder is not null)
                {
                    Directory.Delete(folder, recursive: true);
                }
            }
        });
        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
    }

    private static async Task<ComplianceReport> RunAsync(ComplianceTarget target, ComplianceOptions options, bool json, CancellationToken cancellationToken)
    {
        // A progress bar only where a person watches: a terminal, and not when standard output is for a machine.
        if (json || Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            return await ComplianceSuite.RunAsync(target, options, null, cancellationToken).ConfigureAwait(false);
        }
        ComplianceReport? report = null;
        await AnsiConsole.Progress().AutoClear(true).StartAsync(async progress =>
        {
            var task = progress.AddTask("compliance", maxValue: ComplianceSuite.TestNames.Count);
            var reporter = new Progress<ComplianceProgress>(step =>
            {
                task.MaxValue = step.Count;
                task.Description = Markup.Escape(step.Name);
                if (step.Result is not null)
                {
                    task.Value = step.Index + 1;
                }
            });
            report = await ComplianceSuite.RunAsync(target, options, reporter, cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
        return report!;
    }

    private static bool TryCamera(string api, string memory, string? formats, int sharedMemoryMib, out ComplianceTarget target, out string error)
    {
        target = null!;
        error = "";
        var types = MemoryTypes.None;
        foreach (var item in memory.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            types |= item switch { "mmap" => MemoryTypes.Mmap, "shared-pages" => MemoryTypes.SharedPages, "virtio-object" => MemoryTypes.VirtioObject, _ => MemoryTypes.None };
            if (item is not ("mmap" or "shared-pages" or "virtio-object"))
            {
                error = $"--memory: unknown memory type '{item}' (mmap, shared-pages, virtio-object)";
                return false;
            }
        }
        uint[]? pixelFormats = null;
        if (formats is not null)
        {
            pixelFormats = formats.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(f => f.ToUpperInvariant() switch
            {
                "YUYV" => Constants.V4L2_PIX_FMT_YUYV,
                "NV12" => Constants.V4L2_PIX_FMT_NV12,
                "NV12M" => Constants.V4L2_PIX_FMT_NV12M,
                "RGB24" => Constants.V4L2_PIX_FMT_RGB24,
                _ => 0u,
            }).ToArray();
            if (pixelFormats.Length == 0 || pixelFormats.Contains(0u))
            {
                error = "--formats takes a comma list of YUYV, NV12, NV12M, RGB24";
                return false;
            }
        }
        if (sharedMemoryMib < 0)
        {
            error = "--shared-memory-mib takes 0 or more";
            return false;
        }
        VirtualCamera camera;
        try
        {
            camera = new VirtualCamera(new CameraOptions { Fast = true, Api = api == "multi-planar" ? CameraApi.MultiPlanar : CameraApi.SinglePlanar, Memory = types, PixelFormats = pixelFormats });
        }
        catch (ArgumentException exception)
        {
            error = exception.Message;
            return false;
        }
        target = ComplianceTarget.InProcess(transport => camera.CreateEndpoint(transport), _ => camera.StopStreams(),
            new InProcessTargetOptions { SharedMemorySize = (ulong)sharedMemoryMib << 20 });
        return true;
    }

    private static Process StartBackend(string command)
    {
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start '{command}'");
        // The back-end's standard output is drained so it never blocks on a full pipe; it is not part of the report.
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        return process;
    }

    private static async Task<bool> WaitForSocketAsync(Process backend, string path, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (File.Exists(path))
            {
                return true;
            }
            if (backend.HasExited)
            {
                return false;
            }
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
        return false;
    }
}
