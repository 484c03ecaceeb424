using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using VirtioMedia.Abi;

namespace VirtioMedia.ProxyGuestCheck;

/// <summary>
/// Frames of one capture: their count, rate, latency (from the kernel's buffer timestamp, CLOCK_MONOTONIC, to the moment
/// the application holds the frame; Stopwatch is CLOCK_MONOTONIC in nanoseconds on Linux), and how many differed from
/// the first frame (vivid's still picture makes every frame the same).
/// </summary>
internal sealed class CaptureResult
{
    private readonly List<double> _latencies = new();

    public CaptureResult(uint sizeImage) => SizeImage = sizeImage;

    public uint SizeImage { get; }

    public int Frames { get; private set; }

    public byte[]? First { get; private set; }

    public int Unstable { get; private set; }

    public double FramesPerSecond { get; private set; }

    public double MeanLatencyMs => _latencies.Count == 0 ? 0 : _latencies.Average();

    public double P95LatencyMs => _latencies.Count == 0 ? 0 : _latencies.OrderBy(x => x).ElementAt((int)(_latencies.Count * 0.95));

    /// <summary>Frames left out of the rate and latency: the first ones include JIT compilation and queue filling.</summary>
    public const int WarmUpFrames = 5;

    private long _warm;

    public void Add(in timeval timestamp, ReadOnlySpan<byte> frame)
    {
        if (Frames == WarmUpFrames)
        {
            _warm = Stopwatch.GetTimestamp();
        }
        var now = Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency);
        var taken = timestamp.tv_sec * 1e9 + timestamp.tv_usec * 1e3;
        if (Frames >= WarmUpFrames)
        {
            _latencies.Add((now - taken) / 1e6);
        }
        if (First is null)
        {
            First = frame.ToArray();
        }
        else if (!frame.SequenceEqual(First))
        {
            Unstable++;
        }
        Frames++;
    }

    public void Finish()
    {
        var seconds = Stopwatch.GetElapsedTime(_warm).TotalSeconds;
        FramesPerSecond = seconds > 0 && Frames > WarmUpFrames ? (Frames - WarmUpFrames - 1) / seconds : 0;
    }

    public override string ToString() => $"frames={Frames} fps={FramesPerSecond:F1} latency_ms_mean={MeanLatencyMs:F2} latency_ms_p95={P95LatencyMs:F2} unstable={Unstable}";
}

/// <summary>The format and frame interval every capture asks for.</summary>
internal static class Formats
{
    public static v4l2_format Request(uint width, uint height)
    {
        var format = new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
        format.fmt.pix.width = width;
        format.fmt.pix.height = height;
        format.fmt.pix.pixelformat = Constants.V4L2_PIX_FMT_YUYV;
        format.fmt.pix.field = Constants.V4L2_FIELD_NONE;
        return format;
    }

    /// <summary>1/60 s: the shortest frame interval vivid's webcam input offers; it clamps to what the size allows.</summary>
    public static v4l2_streamparm FastestInterval()
    {
        var parm = new v4l2_streamparm { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
        parm.parm.capture.timeperframe.numerator = 1;
        parm.parm.capture.timeperframe.denominator = 60;
        return parm;
    }
}
