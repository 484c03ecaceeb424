using System;
using System.Threading;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Tests.Runtime;

namespace VirtioMedia.Benchmarks;

// The runtime end to end: a driver endpoint and a device endpoint over the in-process transport (real split virtqueues
// in one guest memory, SemaphoreDoorbell kicks and interrupts), serving LoopbackDevice sessions (linked from the
// tests: G_FMT/S_FMT, and a QBUF that hands the buffer straight back with a DQBUF event). Each benchmark method runs a
// batch of operations (OperationsPerInvoke), so the figures are per operation and the one Task of the batch's async
// method is spread over the batch (4096 operations). The floor, measured in the same run, is a ping-pong between two threads over two
// SemaphoreDoorbells: the same two handoffs (a kick one way, an interrupt back) as one command, with nothing else.

/// <summary>Adds the median, p95 and p99 of the iteration means, and operations per second.</summary>
public sealed class RuntimeColumnsConfig : ManualConfig
{
    public RuntimeColumnsConfig()
    {
        AddColumn(StatisticColumn.Median, StatisticColumn.P95, new PercentileColumn(99), StatisticColumn.OperationsPerSecond);
    }
}

/// <summary>The p-th percentile of the iteration means (BenchmarkDotNet has columns up to P95 and P100).</summary>
public sealed class PercentileColumn(int percentile) : IColumn
{
    public string Id => $"P{percentile}";

    public string ColumnName => $"P{percentile} [ns]";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Statistics;

    public int PriorityInCategory => percentile;

    public bool IsNumeric => true;

    // Always nanoseconds: the value is printed as is, not scaled with the summary's time unit.
    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => $"Percentile {percentile} of the iteration means, in ns";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        if (statistics is null)
        {
            return "NA";
        }
        return statistics.Percentiles.Percentile(percentile).ToString("N1", style.CultureInfo);
    }

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}

/// <summary>Two endpoints, one in-process transport, and helpers the runtime benchmarks share.</summary>
public abstract class RuntimeBench
{
    protected const int Batch = 4096;

    private InProcessTransport _transport = null!;
    private DeviceEndpoint _device = null!;
    private SemaphoreDoorbell _ping = null!;
    private SemaphoreDoorbell _pong = null!;
    private CancellationTokenSource _stopPong = null!;
    private Task _ponger = Task.CompletedTask;

    protected DriverEndpoint Driver { get; private set; } = null!;

    protected void StartEndpoints()
    {
        _transport = new InProcessTransport();
        _device = new DeviceEndpoint(_transport, LoopbackDevice.Config, _ => new LoopbackDevice());
        _transport.Config = _device.Config;
        Driver = DriverEndpoint.Start(_transport.Driver);
        _device.Start();

        _ping = new SemaphoreDoorbell();
        _pong = new SemaphoreDoorbell();
        _stopPong = new CancellationTokenSource();
        var token = _stopPong.Token;
        _ponger = Task.Run(async () =>
        {
            while (true)
            {
                await _ping.WaitAsync(token).ConfigureAwait(false);
                _pong.Notify();
            }
        });
    }

    protected void StopEndpoints()
    {
        _stopPong.Cancel();
        try
        {
            _ponger.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
        }
        Driver.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _device.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _transport.Dispose();
    }

    /// <summary>The floor: <paramref name="rounds"/> round trips between this thread and another over two doorbells.</summary>
    protected async Task PingPongAsync(int rounds)
    {
        for (var i = 0; i < rounds; i++)
        {
            _ping.Notify();
            await _pong.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    protected static async Task GetFormatLoopAsync(DriverSession session, int count)
    {
        var format = new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
        for (var i = 0; i < count; i++)
        {
            var result = await session.VIDIOC_G_FMT(format).ConfigureAwait(false);
            if (result.Status != 0)
            {
                throw new InvalidOperationException($"G_FMT failed: {result.Status}");
            }
        }
    }
}

/// <summary>One session: time per ioctl round trip, per QBUF + DQBUF-event cycle, against the doorbell ping-pong.</summary>
[MemoryDiagnoser]
[Config(typeof(RuntimeColumnsConfig))]
public class RuntimeLatency : RuntimeBench
{
    private DriverSession _session = null!;
    private v4l2_format _format;

    [GlobalSetup]
    public void Setup()
    {
        StartEndpoints();
        _session = Driver.OpenSessionAsync().AsTask().GetAwaiter().GetResult();
        _format = _session.VIDIOC_G_FMT(new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE }).AsTask().GetAwaiter().GetResult().Payload;
        Check(_session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP, count = 4 }).AsTask().GetAwaiter().GetResult().Status);
        Check(_session.VIDIOC_STREAMON((int)Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE).AsTask().GetAwaiter().GetResult().Status);
    }

    [GlobalCleanup]
    public void Cleanup() => StopEndpoints();

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public Task DoorbellPingPong() => PingPongAsync(Batch);

    [Benchmark(OperationsPerInvoke = Batch)]
    public Task G_FMT() => GetFormatLoopAsync(_session, Batch);

    [Benchmark(OperationsPerInvoke = Batch)]
    public async Task S_FMT()
    {
        for (var i = 0; i < Batch; i++)
        {
            Check((await _session.VIDIOC_S_FMT(_format).ConfigureAwait(false)).Status);
        }
    }

    /// <summary>QBUF, whose handler emits the DQBUF event at once, then reading that event from the session's channel.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public async Task QBUF_DQBUF_cycle()
    {
        var buffer = new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP };
        for (var i = 0; i < Batch; i++)
        {
            buffer.index = (uint)(i & 3);
            Check((await _session.VIDIOC_QBUF(buffer).ConfigureAwait(false)).Status);
            var done = await _session.DequeuedBuffers.ReadAsync().ConfigureAwait(false);
            if (done.Buffer.index != buffer.index)
            {
                throw new InvalidOperationException("DQBUF returned another buffer");
            }
        }
    }

    private static void Check(int status)
    {
        if (status != 0)
        {
            throw new InvalidOperationException($"ioctl failed: {status}");
        }
    }
}

/// <summary>1, 4 and 16 sessions each issuing G_FMT in a loop at the same time: time per ioctl and ioctls per second overall.</summary>
[MemoryDiagnoser]
[Config(typeof(RuntimeColumnsConfig))]
public class RuntimeThroughput : RuntimeBench
{
    private const int PerSession = 4096;
    private DriverSession[] _sessions = [];
    private Task[] _loops = [];

    [Params(1, 4, 16)]
    public int Sessions { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        StartEndpoints();
        _sessions = new DriverSession[Sessions];
        for (var i = 0; i < Sessions; i++)
        {
            _sessions[i] = Driver.OpenSessionAsync().AsTask().GetAwaiter().GetResult();
        }
        _loops = new Task[Sessions];
    }

    [GlobalCleanup]
    public void Cleanup() => StopEndpoints();

    /// <summary>The floor, one ping-pong per ioctl of the other benchmark (the same figure for every session count).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = PerSession)]
    public Task DoorbellPingPong() => PingPongAsync(PerSession);

    [Benchmark(OperationsPerInvoke = PerSession)]
    public Task G_FMT_all_sessions()
    {
        // OperationsPerInvoke cannot depend on a parameter: the sessions share the PerSession ioctls between them.
        var each = PerSession / Sessions;
        for (var i = 0; i < Sessions; i++)
        {
            var session = _sessions[i];
            _loops[i] = Task.Run(() => GetFormatLoopAsync(session, each));
        }
        return Task.WhenAll(_loops);
    }
}
