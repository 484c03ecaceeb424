using System;
using System.Collections.Generic;

namespace VirtioMedia.Samples.Guest;

/// <summary>Per-frame latencies and their median and 99th percentile (nearest rank).</summary>
internal sealed class LatencyStatistics
{
    private readonly List<double> _milliseconds = new();

    public int Count => _milliseconds.Count;

    public void Add(TimeSpan latency) => _milliseconds.Add(latency.TotalMilliseconds);

    public double Median => Percentile(50);

    public double P99 => Percentile(99);

    /// <summary>The nearest-rank percentile: the smallest sample with at least <paramref name="percent"/>% of the samples at or below it.</summary>
    public double Percentile(double percent)
    {
        if (_milliseconds.Count == 0)
        {
            return double.NaN;
        }
        var sorted = _milliseconds.ToArray();
        Array.Sort(sorted);
        var rank = (int)Math.Ceiling(percent / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
