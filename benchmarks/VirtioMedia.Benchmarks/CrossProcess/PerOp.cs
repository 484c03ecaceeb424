using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Threading.Tasks;

namespace VirtioMedia.Benchmarks.CrossProcess;

/// <summary>
/// Per-call latency, which BenchmarkDotNet does not give (it times iterations of many calls): each call timed on its
/// own with <see cref="Stopwatch.GetTimestamp"/>, after a warm-up, then the median and the 99th percentile.
/// </summary>
internal static class PerOp
{
    public static void Report(string name, int samples, Func<ValueTask> call)
    {
        for (var i = 0; i < samples / 10; i++)
        {
            call().AsTask().GetAwaiter().GetResult();
        }
        var ticks = new long[samples];
        for (var i = 0; i < samples; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var pending = call();
            if (!pending.IsCompletedSuccessfully)
            {
                pending.AsTask().GetAwaiter().GetResult();
            }
            ticks[i] = Stopwatch.GetTimestamp() - started;
        }
        Array.Sort(ticks);
        var line = string.Create(CultureInfo.InvariantCulture,
            $"per-op: {name}: median {Microseconds(Percentile(ticks, 50)):F1} us, p99 {Microseconds(Percentile(ticks, 99)):F1} us, max {Microseconds(ticks[^1]):F1} us ({samples} calls)");
        Console.WriteLine(line);
        // Also kept with BenchmarkDotNet's results, where the run's tables are.
        var folder = Path.Combine(Directory.GetCurrentDirectory(), "BenchmarkDotNet.Artifacts", "results");
        Directory.CreateDirectory(folder);
        File.AppendAllText(Path.Combine(folder, "CrossProcess-per-op.txt"), $"{DateTime.UtcNow:O} {line}{Environment.NewLine}");
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static long Percentile(long[] sorted, int percent)
    {
        var rank = (int)Math.Ceiling(percent / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    private static double Microseconds(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;
}
