using System;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Proxy;
using VirtioMedia.Runtime.Driver;

namespace VirtioMedia.ProxyGuestCheck;

/// <summary>
/// The part of the proxy check that runs in the guest, next to vivid. Every result is one line
/// "@@result NAME PASS|FAIL detail" (or "@@bench ..."), which tools/proxy-guest/report.py reads on the host.
/// </summary>
internal static class Program
{
    private static int _failures;

    private static async Task<int> Main(string[] args)
    {
        if (args.Length == 1 && args[0] == "--version")
        {
            Console.WriteLine($"proxy check on .NET {Environment.Version}");
            return 0;
        }
        string? capture = null, output = null, loopCapture = null, loopOutput = null;
        var frames = 30;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--capture": capture = args[i + 1]; break;
                case "--output": output = args[i + 1]; break;
                case "--loop-capture": loopCapture = args[i + 1]; break;
                case "--loop-output": loopOutput = args[i + 1]; break;
                case "--frames": frames = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
            }
        }
        if (capture is null)
        {
            Console.Error.WriteLine("usage: --capture /dev/videoN [--output /dev/videoM] [--frames N]");
            return 2;
        }
        await Step("compliance-capture", () => Compliance.RunAsync("capture", capture, streaming: false));
        await Step("compliance-capture-s10", () => Compliance.RunAsync("capture-s10", capture, streaming: true));
        if (output is not null)
        {
            await Step("compliance-output", () => Compliance.RunAsync("output", output, streaming: false));
            await Step("compliance-output-s10", () => Compliance.RunAsync("output-s10", output, streaming: true));
        }
        await Step("still-picture", () => Task.FromResult(Vivid.MakeStill(capture)));
        foreach (var (width, height) in new[] { (640u, 360u), (1280u, 720u) })
        {
            await Streams(capture, width, height, frames);
        }
        await Step("virtio-object-refused", async () =>
        {
            await using var node = ProxiedNode.Start(capture);
            var session = await node.Driver.OpenSessionAsync();
            var request = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 2, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_DMABUF });
            await session.CloseAsync();
            return request.Status == Constants.EINVAL ? "REQBUFS(DMABUF) answers EINVAL" : throw new InvalidOperationException($"REQBUFS(DMABUF) answered {request.Status}");
        });
        if (loopCapture is not null && loopOutput is not null)
        {
            await OutputLoopback(loopCapture, loopOutput);
        }
        await Step("unplug", () => Unplug(capture));
        Console.WriteLine($"@@summary failures={_failures}");
        return _failures == 0 ? 0 : 1;
    }

    private static async Task Streams(string capture, uint width, uint height, int frames)
    {
        CaptureResult? direct = null;
        await Step($"direct-{width}x{height}", () =>
        {
            direct = Vivid.Capture(capture, width, height, frames);
            Console.WriteLine($"@@bench direct {width}x{height} {direct}");
            return Task.FromResult(direct.Unstable == 0 ? direct.ToString() : throw new InvalidOperationException($"vivid's own frames differ ({direct})"));
        });
        foreach (var (memory, name) in new[] { (Constants.V4L2_MEMORY_MMAP, "mmap"), (Constants.V4L2_MEMORY_USERPTR, "shared-pages") })
        {
            await Step($"proxy-{name}-{width}x{height}", async () =>
            {
                await using var node = ProxiedNode.Start(capture);
                var result = await node.CaptureAsync(memory, width, height, frames);
                var statistics = node.Proxy.Statistics;
                var copies = memory == Constants.V4L2_MEMORY_MMAP
                    ? (double)statistics.MmapCopies / Math.Max(1, statistics.MmapFrames)
                    : (double)statistics.SharedPagesCopies / Math.Max(1, statistics.SharedPagesFrames);
                Console.WriteLine($"@@bench proxy-{name} {width}x{height} {result} copies_per_frame={copies:F2}");
                if (direct?.First is null || result.First is null)
                {
                    throw new InvalidOperationException("no frame to compare");
                }
                if (!result.First.AsSpan().SequenceEqual(direct.First) || result.Unstable != 0)
                {
                    throw new InvalidOperationException($"frames differ from vivid's own ({result}, first frame equal: {result.First.AsSpan().SequenceEqual(direct.First)})");
                }
                return $"{result.Frames} frames byte-identical to vivid read directly; {copies:F2} copies/frame";
            });
        }
    }

    // Output frames, checked on the capture side of vivid's video loop: sent directly they are the anchor; sent through
    // the proxy with each memory path they must be captured byte for byte the same.
    private static async Task OutputLoopback(string capture, string output)
    {
        v4l2_format format = default;
        byte[]? anchor = null;
        await Step("loopback-direct", async () =>
        {
            format = Loopback.Prepare(capture, output);
            var size = format.fmt.pix.sizeimage;
            var first = await Loopback.CaptureWhileAsync(capture, format, (flowing, stop) => Task.Run(() => Loopback.FeedDirect(output, format, Loopback.Pattern(size, 1), flowing, stop)));
            var second = await Loopback.CaptureWhileAsync(capture, format, (flowing, stop) => Task.Run(() => Loopback.FeedDirect(output, format, Loopback.Pattern(size, 2), flowing, stop)));
            if (first.First is null || second.First is null || first.Unstable != 0 || second.Unstable != 0)
            {
                throw new InvalidOperationException($"the looped frames are not stable (pattern 1: {first}; pattern 2: {second})");
            }
            if (first.First.AsSpan().SequenceEqual(second.First))
            {
                throw new InvalidOperationException("two output patterns were captured the same: the capture does not show the output");
            }
            anchor = first.First;
            return $"{format.fmt.pix.width}x{format.fmt.pix.height} field {format.fmt.pix.field}: each of two patterns captured stable over {first.Frames} frames, the two different";
        });
        if (anchor is null)
        {
            return;
        }
        foreach (var (memory, layout, name) in new[]
        {
            (Constants.V4L2_MEMORY_MMAP, SharedPagesLayout.Scattered, "mmap"),
            (Constants.V4L2_MEMORY_USERPTR, SharedPagesLayout.Scattered, "shared-pages"),
            (Constants.V4L2_MEMORY_USERPTR, SharedPagesLayout.Contiguous, "shared-pages-contiguous"),
        })
        {
            await Step($"loopback-proxy-{name}", async () =>
            {
                await using var node = ProxiedNode.Start(output);
                var pattern = Loopback.Pattern(format.fmt.pix.sizeimage, 1);
                var result = await Loopback.CaptureWhileAsync(capture, format, (flowing, stop) => Loopback.FeedProxiedAsync(node, memory, layout, format, pattern, flowing, stop));
                var statistics = node.Proxy.Statistics;
                var copies = memory == Constants.V4L2_MEMORY_MMAP ? $"{statistics.MmapCopies} copies over {statistics.MmapFrames} counted frames" : $"{statistics.SharedPagesCopies} copies over {statistics.SharedPagesFrames} counted frames";
                Console.WriteLine($"@@bench loopback-proxy-{name} {result} {copies.Replace(' ', '_')}");
                if (result.First is null || result.Unstable != 0 || !result.First.AsSpan().SequenceEqual(anchor))
                {
                    throw new InvalidOperationException($"the captured loop differs from the output sent directly ({result}, first frame equal: {result.First?.AsSpan().SequenceEqual(anchor)})");
                }
                return $"{result.Frames} looped frames byte-identical to the same pattern sent directly; {copies}";
            });
        }
    }

    // vivid's "Disconnect" button unregisters its nodes as a USB disconnect would: the streaming session must get an
    // ERROR event and be closed, and the endpoint forget it, within bounds.
    private static async Task<string> Unplug(string capture)
    {
        await using var node = ProxiedNode.Start(capture);
        DriverSession? streaming = null;
        long pressed = 0;
        try
        {
            await node.CaptureAsync(Constants.V4L2_MEMORY_MMAP, 640, 360, 1000, session =>
            {
                streaming = session;
                using var direct = HostNode.Open(capture);
                var id = Vivid.FindControl(direct, "Disconnect");
                pressed = Stopwatch.GetTimestamp();
                var status = id == 0 ? -1 : Vivid.SetControl(direct, id, 0);
                return status == 0 ? Task.CompletedTask : throw new InvalidOperationException($"vivid's Disconnect control: {(id == 0 ? "absent" : $"errno {status}")}");
            });
            throw new InvalidOperationException("the stream went on after the disconnect");
        }
        catch (Exception failure) when (streaming is not null && (failure as DeviceErrorException ?? failure.InnerException as DeviceErrorException) is { } error)
        {
            var errorMs = Stopwatch.GetElapsedTime(pressed).TotalMilliseconds;
            var closed = await Task.WhenAny(streaming.Closed, Task.Delay(TimeSpan.FromSeconds(5))) == streaming.Closed;
            var closedMs = Stopwatch.GetElapsedTime(pressed).TotalMilliseconds;
            var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 5;
            while (node.Device.SessionCount > 0 && Stopwatch.GetTimestamp() < deadline)
            {
                Thread.Sleep(10);
            }
            var forgottenMs = Stopwatch.GetElapsedTime(pressed).TotalMilliseconds;
            Console.WriteLine($"@@bench unplug error_event_ms={errorMs:F0} closed_ms={closedMs:F0} device_forgot_ms={forgottenMs:F0} errno={error.Errno}");
            if (!closed || node.Device.SessionCount != 0 || errorMs > 2000)
            {
                throw new InvalidOperationException($"closed={closed} sessions={node.Device.SessionCount} error after {errorMs:F0} ms");
            }
            return $"ERROR event (errno {error.Errno}) {errorMs:F0} ms after the disconnect, session closed at {closedMs:F0} ms, device forgot it at {forgottenMs:F0} ms";
        }
    }

    private static async Task Step(string name, Func<Task<string>> body)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var detail = await body();
            Console.WriteLine($"@@result {name} PASS {detail} ({Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s)");
        }
        catch (Exception error)
        {
            _failures++;
            Console.WriteLine($"@@result {name} FAIL {error.GetType().Name}: {error.Message.ReplaceLineEndings(" ")}");
        }
    }
}
