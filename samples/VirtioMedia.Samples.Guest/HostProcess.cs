using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace VirtioMedia.Samples.Guest;

/// <summary>
/// The sample host run as a second process for the demo: <c>dotnet VirtioMedia.Samples.Host.dll --socket PATH
/// --exit-on-disconnect</c> from the guest's own output folder (the host project is a reference of the guest, so its
/// dll, runtimeconfig and dependencies land there). Its output is relayed to the log; it is killed if it outlives us.
/// </summary>
internal sealed class HostProcess : IAsyncDisposable
{
    /// <summary>The file name of the host's entry assembly.</summary>
    public const string HostAssembly = "VirtioMedia.Samples.Host.dll";

    private const string ListeningLine = "listening on";

    private readonly Process _process;
    private readonly ILogger _log;

    private HostProcess(Process process, ILogger log)
    {
        _process = process;
        _log = log;
    }

    /// <summary>The host's process id.</summary>
    public int Id => _process.Id;

    /// <summary>Starts the host on <paramref name="socket"/> (rendering as fast as buffers come back when
    /// <paramref name="fast"/>) and waits until it says it is listening.</summary>
    public static async Task<HostProcess> StartAsync(string socket, LogLevel logLevel, bool fast, bool multiPlanar, TimeSpan timeout, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var log = loggers.CreateLogger("host");
        var assembly = Path.Combine(AppContext.BaseDirectory, HostAssembly);
        if (!File.Exists(assembly))
        {
            throw new GuestException(ExitCodes.HostFailed, $"the host is not next to the guest: {assembly} is missing (build samples/VirtioMedia.Samples.Guest, which builds the host too)");
        }
        var start = new ProcessStartInfo(DotnetPath())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { assembly, "--socket", socket, "--exit-on-disconnect", "--log-level", logLevel.ToString() })
        {
            start.ArgumentList.Add(argument);
        }
        if (fast)
        {
            start.ArgumentList.Add("--fast");
        }
        if (multiPlanar)
        {
            // A node offers one capture API; NV12M needs the multi-planar one.
            start.ArgumentList.Add("--api");
            start.ArgumentList.Add("multi-planar");
        }
        var process = new Process { StartInfo = start };
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is null)
            {
                listening.TrySetException(new GuestException(ExitCodes.HostFailed, "the host ended its output before it was listening"));
                return;
            }
            if (line.Data.Contains(ListeningLine, StringComparison.Ordinal))
            {
                listening.TrySetResult();
            }
            log.LogInformation("{Line}", line.Data);
        };
        process.ErrorDataReceived += (_, line) =>
        {
            if (line.Data is not null)
            {
                log.LogWarning("{Line}", line.Data);
            }
        };
        try
        {
            process.Start();
        }
        catch (Exception error) when (error is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            process.Dispose();
            throw new GuestException(ExitCodes.HostFailed, $"cannot start {start.FileName}: {error.Message}", error);
        }
        var host = new HostProcess(process, log);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await listening.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error)
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw error is GuestException ? error : new GuestException(ExitCodes.HostFailed,
                error is TimeoutException ? $"the host did not say '{ListeningLine}' within {timeout.TotalSeconds:0} s" : $"starting the host failed: {error.Message}", error);
        }
        log.LogInformation("host process {Id} is listening on {Socket}", process.Id, socket);
        return host;
    }

    /// <summary>Waits up to <paramref name="grace"/> for the host to leave on its own (it exits once the guest has
    /// disconnected), then kills it.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            return;
        }
        using var limit = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _log.LogInformation("stopping the host (process {Id})", _process.Id);
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            return;
        }
        if (_process.ExitCode != 0)
        {
            _log.LogWarning("the host exited with code {Code}", _process.ExitCode);
        }
    }

    /// <summary>Makes sure the host is gone.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
        }
        finally
        {
            _process.Dispose();
        }
    }

    /// <summary>The dotnet host running this process: the runtime lives under it, so it can run the host dll too.</summary>
    internal static string DotnetPath()
    {
        var name = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "dotnet.exe" : "dotnet";
        if (Environment.ProcessPath is { } self && Path.GetFileName(self) == name)
        {
            return self;
        }
        // <root>/shared/Microsoft.NETCore.App/<version>/ holds the runtime; <root>/dotnet is the muxer.
        var runtime = RuntimeEnvironment.GetRuntimeDirectory();
        var root = Path.GetFullPath(Path.Combine(runtime, "..", "..", ".."));
        var candidate = Path.Combine(root, name);
        return File.Exists(candidate) ? candidate : name;
    }
}
