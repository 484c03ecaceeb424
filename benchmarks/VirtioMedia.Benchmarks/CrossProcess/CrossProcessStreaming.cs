using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Benchmarks.CrossProcess;

/// <summary>
/// 1920x1080 NV12 capture between two processes: the sample host with <c>--fast --fill-only</c> (a device whose only
/// per-frame work is copying one precomputed frame into the buffer) streams into MMAP buffers of shared memory
/// region 0, and this process dequeues and requeues them. One operation is one frame, so frames/s is 1 s divided by
/// the time per operation. The floor copies the same bytes per frame within one process.
/// </summary>
[Config(typeof(CrossProcessConfig))]
public class CrossProcessStreaming
{
    /// <summary>Frames per invocation.</summary>
    public const int Frames = 120;

    private const int Width = 1920;
    private const int Height = 1080;
    private const int FrameBytes = Width * Height * 3 / 2;
    private const int BufferCount = 4;

    private string _folder = "";
    private Process? _host;
    private VhostUserFrontend? _frontend;
    private DriverEndpoint? _endpoint;
    private DriverSession? _session;
    private MappedBuffer[] _maps = [];

    private byte[] _frame = [];
    private unsafe byte*[] _destinations = [];

    [GlobalSetup(Target = nameof(MemcpyFloor))]
    public unsafe void AllocateCopies()
    {
        _frame = new byte[FrameBytes];
        new Random(1).NextBytes(_frame);
        // As many destinations as the stream has buffers, written in turn, as the device does.
        _destinations = new byte*[BufferCount];
        for (var i = 0; i < BufferCount; i++)
        {
            _destinations[i] = (byte*)NativeMemory.AlignedAlloc(FrameBytes, 4096);
            new Span<byte>(_destinations[i], FrameBytes).Clear();
        }
    }

    [GlobalCleanup(Target = nameof(MemcpyFloor))]
    public unsafe void FreeCopies()
    {
        foreach (var destination in _destinations)
        {
            NativeMemory.AlignedFree(destination);
        }
        _destinations = [];
    }

    [GlobalSetup(Target = nameof(StreamNv12))]
    public void StartStream() => StartStreamAsync().GetAwaiter().GetResult();

    [GlobalCleanup(Target = nameof(StreamNv12))]
    public void StopStream() => StopStreamAsync().GetAwaiter().GetResult();

    /// <summary>The floor: <see cref="Frames"/> frames' bytes copied in this process.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Frames)]
    public unsafe void MemcpyFloor()
    {
        for (var i = 0; i < Frames; i++)
        {
            _frame.AsSpan().CopyTo(new Span<byte>(_destinations[i % BufferCount], FrameBytes));
        }
    }

    /// <summary><see cref="Frames"/> frames filled by the host process: each dequeued, then queued again.</summary>
    [Benchmark(OperationsPerInvoke = Frames)]
    public async Task StreamNv12()
    {
        var session = _session!;
        for (var i = 0; i < Frames; i++)
        {
            var done = await session.DequeuedBuffers.ReadAsync(CancellationToken.None).ConfigureAwait(false);
            if (done.Buffer.bytesused != FrameBytes)
            {
                throw new InvalidOperationException($"frame of {done.Buffer.bytesused} bytes, expected {FrameBytes}");
            }
            await QueueAsync(session, done.Buffer.index).ConfigureAwait(false);
        }
    }

    private async Task StartStreamAsync()
    {
        _folder = Directory.CreateTempSubdirectory("vm-bench-").FullName;
        var socket = Path.Combine(_folder, "camera.sock");
        _host = ChildProcesses.StartHost(socket, "--fast", "--fill-only", "--exit-on-disconnect");
        _frontend = await VhostUserFrontend.ConnectAsync(socket, new VhostUserFrontendOptions { MemorySize = 16UL << 20, Timeout = TimeSpan.FromSeconds(5) }, CancellationToken.None)
            .ConfigureAwait(false);
        _endpoint = DriverEndpoint.Start(_frontend, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(5) });
        var session = _session = await _endpoint.OpenSessionAsync(CancellationToken.None).ConfigureAwait(false);

        var format = new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
        format.fmt.pix.width = Width;
        format.fmt.pix.height = Height;
        format.fmt.pix.pixelformat = Constants.V4L2_PIX_FMT_NV12;
        format.fmt.pix.field = Constants.V4L2_FIELD_NONE;
        var set = await session.VIDIOC_S_FMT(format, null, CancellationToken.None).ConfigureAwait(false);
        Check(set.Status, "VIDIOC_S_FMT");
        if (set.Payload.fmt.pix.pixelformat != Constants.V4L2_PIX_FMT_NV12 || set.Payload.fmt.pix.width != Width || set.Payload.fmt.pix.height != Height
            || set.Payload.fmt.pix.sizeimage != FrameBytes)
        {
            throw new InvalidOperationException("the host did not take 1920x1080 NV12");
        }
        var request = await session.VIDIOC_REQBUFS(
            new v4l2_requestbuffers { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP, count = BufferCount }, null, CancellationToken.None)
            .ConfigureAwait(false);
        Check(request.Status, "VIDIOC_REQBUFS");
        _maps = new MappedBuffer[request.Payload.count];
        for (uint i = 0; i < _maps.Length; i++)
        {
            var info = await session.VIDIOC_QUERYBUF(
                new v4l2_buffer { index = i, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP }, null, CancellationToken.None)
                .ConfigureAwait(false);
            Check(info.Status, "VIDIOC_QUERYBUF");
            // Mapped as a capture application maps them, though only the device touches the bytes here.
            _maps[i] = await session.MapAsync(info.Payload.m.offset, writable: false, CancellationToken.None).ConfigureAwait(false);
            await QueueAsync(session, i).ConfigureAwait(false);
        }
        Check((await session.VIDIOC_STREAMON((int)Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, null, CancellationToken.None).ConfigureAwait(false)).Status, "VIDIOC_STREAMON");
    }

    private async Task StopStreamAsync()
    {
        if (_session is { } session)
        {
            Check((await session.VIDIOC_STREAMOFF((int)Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, null, CancellationToken.None).ConfigureAwait(false)).Status, "VIDIOC_STREAMOFF");
            foreach (var map in _maps)
            {
                await session.Endpoint.UnmapAsync(map, CancellationToken.None).ConfigureAwait(false);
            }
            await session.CloseAsync().ConfigureAwait(false);
        }
        if (_endpoint is not null)
        {
            await _endpoint.DisposeAsync().ConfigureAwait(false);
        }
        _frontend?.Dispose();
        if (_host is not null && !_host.WaitForExit(5000))
        {
            Console.WriteLine("streaming: the host did not exit after the disconnect");
        }
        ChildProcesses.Stop(_host);
        Directory.Delete(_folder, recursive: true);
    }

    private static async ValueTask QueueAsync(DriverSession session, uint index)
    {
        var queued = await session.VIDIOC_QBUF(new v4l2_buffer { index = index, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP }, null, CancellationToken.None)
            .ConfigureAwait(false);
        Check(queued.Status, "VIDIOC_QBUF");
    }

    private static void Check(int status, string what)
    {
        if (status != 0)
        {
            throw new InvalidOperationException($"{what} failed: {status}");
        }
    }
}
