using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace VirtioMedia.Benchmarks.CrossProcess;

/// <summary>
/// The second process of the cross-process benchmarks: the sample host (a dll copied next to the benchmarks by the
/// project reference) or this very assembly started again as the eventfd ping-pong partner.
/// </summary>
internal static partial class ChildProcesses
{
    /// <summary>The argument that turns this assembly into the ping-pong partner instead of the benchmark runner.</summary>
    public const string PingPongArgument = "--xproc-pingpong-child";

    /// <summary>A value no round trip writes: the parent adds it to ask the partner to leave.</summary>
    public const ulong StopValue = 1UL << 40;

    /// <summary>
    /// Runs before Main: the partner is this assembly with one special argument, and catching it here keeps the
    /// shared Program.Main (and BenchmarkDotNet's own argument parsing) untouched.
    /// </summary>
#pragma warning disable CA2255 // An executable's own entry hook, not a library's.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void RunPartnerIfAsked()
    {
        var arguments = Environment.GetCommandLineArgs();
        var at = Array.IndexOf(arguments, PingPongArgument);
        if (at < 0 || at + 2 >= arguments.Length)
        {
            return;
        }
        Environment.Exit(PingPong(int.Parse(arguments[at + 1]), int.Parse(arguments[at + 2])));
    }

    /// <summary>Reads <paramref name="ping"/>, writes <paramref name="pong"/>, until the stop value arrives.</summary>
    private static int PingPong(int ping, int pong)
    {
        while (true)
        {
            var value = Read(ping);
            if (value >= StopValue)
            {
                return 0;
            }
            Signal(pong);
        }
    }

    /// <summary>Blocking eventfd read: the counter's value, which resets it.</summary>
    public static unsafe ulong Read(int fd)
    {
        ulong value;
        while (read(fd, &value, 8) != 8)
        {
            if (Marshal.GetLastPInvokeError() != EINTR)
            {
                throw new IOException($"eventfd read failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        return value;
    }

    public static unsafe void Signal(int fd, ulong value = 1)
    {
        while (write(fd, &value, 8) != 8)
        {
            if (Marshal.GetLastPInvokeError() != EINTR)
            {
                throw new IOException($"eventfd write failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
    }

    /// <summary>A blocking eventfd that a child process inherits (no EFD_CLOEXEC, unlike the runtime's own).</summary>
    public static int CreateInheritableEventFd()
    {
        var fd = eventfd(0, 0);
        if (fd < 0)
        {
            throw new IOException($"eventfd failed: errno {Marshal.GetLastPInvokeError()}");
        }
        return fd;
    }

    public static void Close(int fd) => close(fd);

    /// <summary><c>dotnet</c>: the benchmarks run from an apphost, so the muxer is found next to the runtime.</summary>
    public static string DotnetPath()
    {
        if (Environment.ProcessPath is { } self && Path.GetFileName(self) == "dotnet")
        {
            return self;
        }
        // <root>/shared/Microsoft.NETCore.App/<version>/ holds the runtime; <root>/dotnet is the muxer.
        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var candidate = Path.Combine(root, "dotnet");
        return File.Exists(candidate) ? candidate : "dotnet";
    }

    /// <summary>Starts the sample host on <paramref name="socket"/> and waits for its "listening on" line.</summary>
    public static Process StartHost(string socket, params string[] options)
    {
        var host = Path.Combine(AppContext.BaseDirectory, "VirtioMedia.Samples.Host.dll");
        if (!File.Exists(host))
        {
            throw new FileNotFoundException("the benchmarks reference the host sample so that it is built next to them", host);
        }
        var start = new ProcessStartInfo(DotnetPath())
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(host);
        start.ArgumentList.Add("--socket");
        start.ArgumentList.Add(socket);
        start.ArgumentList.Add("--log-level");
        start.ArgumentList.Add("Warning");
        foreach (var option in options)
        {
            start.ArgumentList.Add(option);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("the host did not start");
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var line = process.StandardOutput.ReadLineAsync(limit.Token).AsTask();
        try
        {
            if (line.GetAwaiter().GetResult() is not { } text || !text.StartsWith("listening on", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("the host ended its output before it was listening");
            }
        }
        catch
        {
            Stop(process);
            throw;
        }
        return process;
    }

    /// <summary>Ends a child and waits for it, bounded.</summary>
    public static void Stop(Process? process)
    {
        if (process is null)
        {
            return;
        }
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        process.Dispose();
    }

    private const int EINTR = 4;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint read(int fd, void* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint write(int fd, void* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
