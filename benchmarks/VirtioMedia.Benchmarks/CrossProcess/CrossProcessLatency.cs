using System;
using System.Diagnostics;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Benchmarks.CrossProcess;

/// <summary>
/// One ioctl between two processes: VIDIOC_G_FMT from a <see cref="DriverEndpoint"/> over a
/// <see cref="VhostUserFrontend"/> in this process to the sample host in another (a real vhost-user socket, memfd
/// guest memory, kick and call eventfds). The floor is a bare eventfd ping-pong with a child process: the two
/// wake-ups every cross-process round trip pays, with nothing else.
/// </summary>
/// <remarks>
/// BenchmarkDotNet's statistics are over iteration means, so its P95/P99 columns describe how steady the runs
/// were, not the tail of single calls. The per-call median and p99 are measured apart in the global setup
/// (<see cref="PerOp"/>): each call timed on its own, printed as "per-op:" lines.
/// </remarks>
[Config(typeof(CrossProcessConfig))]
public class CrossProcessLatency
{
    private const int PerOpSamples = 20_000;

    private string _folder = "";
    private Process? _host;
    private VhostUserFrontend? _frontend;
    private DriverEndpoint? _endpoint;
    private DriverSession? _session;
    private v4l2_format _format;

    private Process? _partner;
    private int _ping = -1;
    private int _pong = -1;

    [GlobalSetup(Target = nameof(EventFdPingPong))]
    public void StartPartner()
    {
        _ping = ChildProcesses.CreateInheritableEventFd();
        _pong = ChildProcesses.CreateInheritableEventFd();
        var start = new ProcessStartInfo(ChildProcesses.DotnetPath()) { UseShellExecute = false };
        start.ArgumentList.Add(typeof(CrossProcessLatency).Assembly.Location);
        start.ArgumentList.Add(ChildProcesses.PingPongArgument);
        start.ArgumentList.Add(_ping.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add(_pong.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _partner = Process.Start(start) ?? throw new InvalidOperationException("the ping-pong partner did not start");
        // The first round trip also waits for the partner's start-up.
        EventFdPingPong();
        PerOp.Report("eventfd ping-pong", PerOpSamples, () =>
        {
            EventFdPingPong();
            return ValueTask.CompletedTask;
        });
    }

    [GlobalCleanup(Target = nameof(EventFdPingPong))]
    public void StopPartner()
    {
        if (_ping >= 0)
        {
            ChildProcesses.Signal(_ping, ChildProcesses.StopValue);
        }
        if (_partner is not null && !_partner.WaitForExit(5000))
        {
            ChildProcesses.Stop(_partner);
        }
        _partner?.Dispose();
        ChildProcesses.Close(_ping);
        ChildProcesses.Close(_pong);
        _ping = _pong = -1;
    }

    [GlobalSetup(Target = nameof(IoctlGFmt))]
    public void StartHost()
    {
        _folder = Directory.CreateTempSubdirectory("vm-bench-").FullName;
        var socket = Path.Combine(_folder, "camera.sock");
        _host = ChildProcesses.StartHost(socket, "--fast", "--exit-on-disconnect");
        _frontend = VhostUserFrontend.ConnectAsync(socket, new VhostUserFrontendOptions { MemorySize = 16UL << 20, Timeout = TimeSpan.FromSeconds(5) }, CancellationToken.None)
            .GetAwaiter().GetResult();
        _endpoint = DriverEndpoint.Start(_frontend, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(5) });
        _session = _endpoint.OpenSessionAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
        _format = new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
        IoctlGFmt().GetAwaiter().GetResult();
        PerOp.Report("VIDIOC_G_FMT", PerOpSamples, () => new ValueTask(IoctlGFmt()));
    }

    [GlobalCleanup(Target = nameof(IoctlGFmt))]
    public void StopHost()
    {
        _session?.CloseAsync().AsTask().GetAwaiter().GetResult();
        _endpoint?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _frontend?.Dispose();
        // --exit-on-disconnect: the host leaves by itself once the front-end is gone.
        if (_host is not null && !_host.WaitForExit(5000))
        {
            Console.WriteLine("per-op: the host did not exit after the disconnect");
        }
        ChildProcesses.Stop(_host);
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>One round trip: wake the partner, wait for its answer.</summary>
    [Benchmark(Baseline = true)]
    public void EventFdPingPong()
    {
        ChildProcesses.Signal(_ping);
        ChildProcesses.Read(_pong);
    }

    /// <summary>One VIDIOC_G_FMT answered by the host process.</summary>
    [Benchmark]
    public async Task IoctlGFmt()
    {
        var result = await _session!.VIDIOC_G_FMT(_format, null, CancellationToken.None).ConfigureAwait(false);
        if (result.Status != 0)
        {
            throw new InvalidOperationException($"VIDIOC_G_FMT failed: {result.Status}");
        }
    }
}
