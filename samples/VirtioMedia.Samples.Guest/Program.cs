using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace VirtioMedia.Samples.Guest;

/// <summary>
/// The guest sample's command line: <c>capture</c> drives a virtio-media camera served on a vhost-user socket;
/// <c>demo</c> starts the sample host as a second process and captures from it; <c>verify-file</c> checks frames that
/// another application captured from the camera.
/// </summary>
public static class Program
{
    /// <summary>The process entry point.</summary>
    public static async Task<int> Main(string[] args)
    {
        using var interrupt = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            interrupt.Cancel();
        };
        return await RunAsync(args, Console.Out, Console.Error, interrupt.Token).ConfigureAwait(false);
    }

    /// <summary>Parses <paramref name="args"/> and runs the command; returns the exit code (see <see cref="ExitCodes"/>).</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var socket = new Option<string>("--socket") { Description = "The vhost-user socket the host listens on.", Required = true };
        var demoSocket = new Option<string?>("--socket") { Description = "Where the host listens (default: a fresh folder under the temporary directory)." };
        var format = new Option<string>("--format") { Description = "Pixel format: YUYV, NV12, NV12M (multi-planar) or RGB24.", DefaultValueFactory = _ => "YUYV" };
        format.Validators.Add(result =>
        {
            if (!PixelFormatNames.TryParse(result.GetValueOrDefault<string>() ?? "", out _))
            {
                result.AddError("--format takes YUYV, NV12, NV12M or RGB24.");
            }
        });
        var size = new Option<string>("--size") { Description = "Frame size WIDTHxHEIGHT (up to 1920x1080).", DefaultValueFactory = _ => "1280x720" };
        size.Validators.Add(result =>
        {
            if (!CaptureSettings.TryParseSize(result.GetValueOrDefault<string>() ?? "", out _, out _))
            {
                result.AddError("--size takes WIDTHxHEIGHT, for example 1280x720.");
            }
        });
        var frames = new Option<int>("--frames") { Description = "How many frames to capture.", DefaultValueFactory = _ => 300 };
        frames.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 10_000_000)
            {
                result.AddError("--frames takes 1..10000000.");
            }
        });
        var memory = new Option<string>("--memory") { Description = "Buffer memory: mmap, userptr (guest pages) or dmabuf (objects exported by another session).", DefaultValueFactory = _ => "mmap" };
        memory.AcceptOnlyFromAmong("mmap", "userptr", "dmabuf");
        var pngEvery = new Option<int>("--png-every") { Description = "Save every K-th frame as PNG, 0 for none.", DefaultValueFactory = _ => 100 };
        pngEvery.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 0)
            {
                result.AddError("--png-every takes 0 or more.");
            }
        });
        var outputDirectory = new Option<string>("--out") { Description = "Folder for the PNG files.", DefaultValueFactory = _ => "capture-output" };
        var setControl = new Option<string[]>("--set-control")
        {
            Description = "Change a control mid-stream: name=value@frame (repeatable; default brightness a quarter of its range up at half the run).",
            AllowMultipleArgumentsPerToken = false,
        };
        setControl.Validators.Add(result =>
        {
            foreach (var text in result.GetValueOrDefault<string[]>() ?? [])
            {
                if (!ControlChange.TryParse(text, out _, out var problem))
                {
                    result.AddError(problem);
                }
            }
        });
        var verify = new Option<bool>("--verify") { Description = "Check every frame byte for byte against the camera's test pattern." };
        var demoVerify = new Option<bool>("--verify") { Description = "Check every frame byte for byte against the camera's test pattern (default true).", DefaultValueFactory = _ => true };
        var paced = new Option<bool>("--paced") { Description = "Let the host produce frames at its frame interval instead of as fast as buffers come back." };
        var noProgress = new Option<bool>("--no-progress") { Description = "Do not show a progress bar." };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Lowest level logged on stderr.", DefaultValueFactory = _ => LogLevel.Warning };

        Option[] common = [format, size, frames, memory, pngEvery, outputDirectory, setControl, noProgress, logLevel];

        var capture = new Command("capture", "Capture from a virtio-media camera served on a vhost-user socket.") { socket, verify };
        var demo = new Command("demo", "Start the sample host as a second process and capture from it over a real vhost-user socket.") { demoSocket, demoVerify, paced };
        foreach (var option in common)
        {
            capture.Options.Add(option);
            demo.Options.Add(option);
        }

        CaptureSettings Settings(ParseResult parse, string socketPath, bool verifyFrames)
        {
            CaptureSettings.TryParseSize(parse.GetValue(size)!, out var width, out var height);
            PixelFormatNames.TryParse(parse.GetValue(format)!, out var fourcc);
            var changes = new List<ControlChange>();
            foreach (var text in parse.GetValue(setControl) ?? [])
            {
                ControlChange.TryParse(text, out var change, out _);
                changes.Add(change!);
            }
            return new CaptureSettings
            {
                Socket = socketPath,
                PixelFormat = fourcc,
                Width = width,
                Height = height,
                Frames = parse.GetValue(frames),
                Memory = parse.GetValue(memory) switch { "userptr" => CaptureMemory.UserPtr, "dmabuf" => CaptureMemory.DmaBuf, _ => CaptureMemory.Mmap },
                PngEvery = parse.GetValue(pngEvery),
                OutputDirectory = parse.GetValue(outputDirectory)!,
                ControlChanges = changes,
                Verify = verifyFrames,
                ShowProgress = !parse.GetValue(noProgress),
                LogLevel = parse.GetValue(logLevel),
            };
        }

        capture.SetAction((parse, token) =>
        {
            var settings = Settings(parse, parse.GetRequiredValue(socket), parse.GetValue(verify));
            return RunCaptureAsync(settings, output, error, token);
        });
        demo.SetAction((parse, token) =>
        {
            var settings = Settings(parse, parse.GetValue(demoSocket) ?? "", parse.GetValue(demoVerify));
            return RunDemoAsync(settings, parse.GetValue(paced), output, error, token);
        });

        var framesFile = new Argument<string>("file") { Description = "The frames, each frame's planes one after another, as v4l2-ctl --stream-to writes them." };
        var fileFrames = new Option<int>("--frames") { Description = "How many frames the file must hold.", Required = true };
        fileFrames.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1)
            {
                result.AddError("--frames takes 1 or more.");
            }
        });
        var verifyFile = new Command("verify-file", "Check frames another V4L2 application captured from the camera (such as v4l2-ctl in a real guest) against the test pattern.")
        {
            framesFile, format, size, fileFrames,
        };
        verifyFile.SetAction(parse =>
        {
            CaptureSettings.TryParseSize(parse.GetValue(size)!, out var width, out var height);
            PixelFormatNames.TryParse(parse.GetValue(format)!, out var fourcc);
            return FrameFileVerification.Run(parse.GetValue(framesFile)!, fourcc, width, height, parse.GetValue(fileFrames), output);
        });

        var root = new RootCommand("The virtio-media guest sample: a V4L2 capture client that talks to a virtio-media device over vhost-user.") { capture, demo, verifyFile };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var problem in parsed.Errors)
            {
                error.WriteLine(problem.Message);
            }
            error.WriteLine("Try '--help'.");
            return ExitCodes.Usage;
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, linked.Token).ConfigureAwait(false);
    }

    private static async Task<int> RunCaptureAsync(CaptureSettings settings, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        using var loggers = CreateLoggers(settings.LogLevel);
        return await new CaptureRun(settings, output, loggers).RunAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<int> RunDemoAsync(CaptureSettings settings, bool paced, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        using var loggers = CreateLoggers(settings.LogLevel);
        var log = loggers.CreateLogger("demo");
        string? folder = null;
        var socket = settings.Socket;
        if (socket.Length == 0)
        {
            folder = Directory.CreateTempSubdirectory("virtio-media-demo-").FullName;
            socket = Path.Combine(folder, "camera.sock");
        }
        try
        {
            HostProcess host;
            try
            {
                host = await HostProcess.StartAsync(socket, settings.LogLevel, !paced, Camera.CameraFormats.IsMultiPlanar(settings.PixelFormat), TimeSpan.FromSeconds(30), loggers, cancellationToken).ConfigureAwait(false);
            }
            catch (GuestException failure)
            {
                log.LogError("{Message}", failure.Message);
                return failure.ExitCode;
            }
            await using (host.ConfigureAwait(false))
            {
                output.WriteLine($"host: process {host.Id} serving the camera on {socket}");
                var exit = await new CaptureRun(settings with { Socket = socket }, output, loggers).RunAsync(cancellationToken).ConfigureAwait(false);
                // After a run that used the device the host leaves by itself (--exit-on-disconnect); otherwise it may
                // never have seen a connection and is stopped.
                await host.StopAsync(exit is ExitCodes.Success or ExitCodes.VerificationFailed ? TimeSpan.FromSeconds(5) : TimeSpan.Zero).ConfigureAwait(false);
                return exit;
            }
        }
        finally
        {
            if (folder is not null)
            {
                try
                {
                    Directory.Delete(folder, recursive: true);
                }
                catch (IOException)
                {
                    // Best effort: only a stale socket file is left behind.
                }
            }
        }
    }

    private static ILoggerFactory CreateLoggers(LogLevel level) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(level)
        .AddSimpleConsole(options =>
        {
            options.SingleLine = true;
            options.TimestampFormat = "HH:mm:ss.fff ";
        })
        // Logs go to stderr: stdout carries the report.
        .AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace));
}
