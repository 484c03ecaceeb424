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
        await Step("expbuf-checks", async () =>
        {
            await using var node = ProxiedNode.Start(capture);
            return await node.ExportChecksAsync();
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
        foreach (var (name, memory, zeroCopy, expected) in Variants)
        {
            await Step($"proxy-{name}-{width}x{height}", async () =>
            {
                await using var node = ProxiedNode.Start(capture, zeroCopy);
                var result = await node.CaptureAsync(memory, width, height, frames);
                var statistics = node.Proxy.Statistics;
                var (path, copies) = PathTaken(statistics, memory);
                Console.WriteLine($"@@bench proxy-{name} {width}x{height} {result} path={PathName(path)} copies_per_frame={copies:F2} paths={Paths(statistics)}");
                if (direct?.First is null || result.First is null)
                {
                    throw new InvalidOperationException("no frame to compare");
                }
                if (!result.First.AsSpan().SequenceEqual(direct.First) || result.Unstable != 0)
                {
                    throw new InvalidOperationException($"frames differ from vivid's own ({result}, first frame equal: {result.First.AsSpan().SequenceEqual(direct.First)})");
                }
                RequirePath(statistics, path, copies, expected, result.Frames, "frame");
                return $"{result.Frames} frames byte-identical to vivid read directly; path {PathName(path)}, {copies:F2} copies/frame";
            });
        }
    }

    // The streams each size runs through the proxy, with the memory path every frame must take (null: either of the
    // memory type's, as SHARED_PAGES is direct or bounced depending on where the guest pages happen to lie).
    private static readonly (string Name, uint Memory, bool ZeroCopy, ProxyMemoryPath? Path)[] Variants =
    [
        ("mmap", Constants.V4L2_MEMORY_MMAP, true, ProxyMemoryPath.MmapZeroCopy),
        ("mmap-copy", Constants.V4L2_MEMORY_MMAP, false, ProxyMemoryPath.MmapCopy),
        ("shared-pages", Constants.V4L2_MEMORY_USERPTR, true, null),
        ("virtio-object", Constants.V4L2_MEMORY_DMABUF, true, ProxyMemoryPath.VirtioObject),
    ];

    // Every frame must have taken the path the stream is for (expected; null: either of its memory type's), at that path's
    // cost (0 copies in place, 1 per plane copied), with at least minimumFrames counted on it.
    private static void RequirePath(ProxyStatistics statistics, ProxyMemoryPath path, double copies, ProxyMemoryPath? expected, long minimumFrames, string frames)
    {
        var wanted = expected ?? path;
        if (path != wanted || statistics.Frames(wanted) < minimumFrames || Math.Abs(copies - Cost(wanted)) > 1e-9 || (expected is not null && OtherFrames(statistics, wanted) != 0))
        {
            throw new InvalidOperationException($"expected every {frames} on {PathName(wanted)} at {Cost(wanted):F2} copies/frame, the proxy counted {Paths(statistics)}");
        }
    }

    private static double Cost(ProxyMemoryPath path) => path is ProxyMemoryPath.MmapCopy or ProxyMemoryPath.SharedPagesBounce ? 1 : 0;

    // The path of the memory type that moved the most frames, and its copies per frame.
    private static (ProxyMemoryPath Path, double CopiesPerFrame) PathTaken(ProxyStatistics statistics, uint memory)
    {
        ProxyMemoryPath[] candidates = memory switch
        {
            Constants.V4L2_MEMORY_MMAP => [ProxyMemoryPath.MmapZeroCopy, ProxyMemoryPath.MmapCopy],
            Constants.V4L2_MEMORY_USERPTR => [ProxyMemoryPath.SharedPagesDirect, ProxyMemoryPath.SharedPagesBounce],
            _ => [ProxyMemoryPath.VirtioObject],
        };
        var best = candidates[0];
        foreach (var candidate in candidates)
        {
            if (statistics.Frames(candidate) > statistics.Frames(best))
            {
                best = candidate;
            }
        }
        return (best, statistics.CopiesPerFrame(best));
    }

    private static string PathName(ProxyMemoryPath path) => path switch
    {
        ProxyMemoryPath.MmapZeroCopy => "mmap-zero-copy",
        ProxyMemoryPath.MmapCopy => "mmap-copy",
        ProxyMemoryPath.SharedPagesDirect => "shared-pages-direct",
        ProxyMemoryPath.SharedPagesBounce => "shared-pages-bounce",
        _ => "virtio-object",
    };

    // Frames counted on any other path than the one expected.
    private static long OtherFrames(ProxyStatistics statistics, ProxyMemoryPath expected)
    {
        long frames = 0;
        foreach (var path in Enum.GetValues<ProxyMemoryPath>())
        {
            frames += path == expected ? 0 : statistics.Frames(path);
        }
        return frames;
    }

    // Every path that moved frames, "name:frames:copies", comma-separated.
    private static string Paths(ProxyStatistics statistics)
    {
        var parts = new System.Collections.Generic.List<string>();
        foreach (var path in Enum.GetValues<ProxyMemoryPath>())
        {
            if (statistics.Frames(path) > 0)
            {
                parts.Add($"{PathName(path)}:{statistics.Frames(path)}:{statistics.Copies(path)}");
            }
        }
        return parts.Count == 0 ? "none" : string.Join(',', parts);
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
        // Each with the path every output frame must take: MMAP in place (the twin is vivid's dma-buf) or copied at
        // QBUF; scattered SHARED_PAGES bounced; one contiguous run of guest memory handed over in place.
        foreach (var (memory, layout, name, zeroCopy, expected) in new[]
        {
            (Constants.V4L2_MEMORY_MMAP, SharedPagesLayout.Scattered, "mmap", true, ProxyMemoryPath.MmapZeroCopy),
            (Constants.V4L2_MEMORY_MMAP, SharedPagesLayout.Scattered, "mmap-copy", false, ProxyMemoryPath.MmapCopy),
            (Constants.V4L2_MEMORY_USERPTR, SharedPagesLayout.Scattered, "shared-pages", true, ProxyMemoryPath.SharedPagesBounce),
            (Constants.V4L2_MEMORY_USERPTR, SharedPagesLayout.Contiguous, "shared-pages-contiguous", true, ProxyMemoryPath.SharedPagesDirect),
        })
        {
            await Step($"loopback-proxy-{name}", async () =>
            {
                await using var node = ProxiedNode.Start(output, zeroCopy);
                var pattern = Loopback.Pattern(format.fmt.pix.sizeimage, 1);
                var result = await Loopback.CaptureWhileAsync(capture, format, (flowing, stop) => Loopback.FeedProxiedAsync(node, memory, layout, format, pattern, flowing, stop));
                var statistics = node.Proxy.Statistics;
                var (path, copies) = PathTaken(statistics, memory);
                Console.WriteLine($"@@bench loopback-proxy-{name} {result} path={PathName(path)} copies_per_frame={copies:F2} paths={Paths(statistics)}");
                if (result.First is null || result.Unstable != 0 || !result.First.AsSpan().SequenceEqual(anchor))
                {
                    throw new InvalidOperationException($"the captured loop differs from the output sent directly ({result}, first frame equal: {result.First?.AsSpan().SequenceEqual(anchor)})");
                }
                // Output frames are counted at QBUF, so their number is the frames sent, not the frames captured.
                RequirePath(statistics, path, copies, expected, minimumFrames: 1, "output frame");
                return $"{result.Frames} looped frames byte-identical to the same pattern sent directly; path {PathName(path)}, {copies:F2} copies/frame";
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
