using System;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;

namespace VirtioMedia.Fuzzing;

/// <summary>Waits with a bound: a target that would wait longer has hung, and says so by throwing (afl records a crash).</summary>
internal static class Bounded
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(2);

    public static void Until(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        var spinner = new SpinWait();
        while (!condition())
        {
            if (clock.Elapsed > Limit)
            {
                throw new TimeoutException($"hang: {what} did not happen within {Limit.TotalSeconds} s");
            }
            spinner.SpinOnce(sleep1Threshold: 20);
        }
    }

    public static void Wait(Task task, string what)
    {
        if (!task.Wait(Limit))
        {
            throw new TimeoutException($"hang: {what} did not finish within {Limit.TotalSeconds} s");
        }
    }
}
