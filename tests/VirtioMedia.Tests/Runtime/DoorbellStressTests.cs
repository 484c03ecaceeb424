using System;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// Doorbells under contention: a waiter loop awaiting one <see cref="SemaphoreDoorbell"/> while other threads ring it
/// without pause, and G_FMT ping-pong through the in-process transport while spinning threads oversubscribe the
/// cores. The hazard is a wait that completes while its ringer is still inside the completion: the waiter, resumed
/// synchronously, resets the doorbell for its next wait, and the ringer's late bookkeeping then lands on that next
/// wait (its continuation runs although nothing completed it, and the loop faults with InvalidOperationException, so
/// every later command goes unanswered).
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class DoorbellStressTests
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(3);

    [TestMethod]
    [Timeout(30_000, CooperativeCancellation = true)]
    public async Task A_waiter_rung_without_pause_by_two_threads_never_faults_and_wakes_after_the_last_ring()
    {
        var bell = new SemaphoreDoorbell();
        var stop = 0;
        long wakes = 0;
        var waiter = Task.Run(async () =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                await bell.WaitAsync(CancellationToken.None);
                wakes++;
            }
        });
        var ringers = new Thread[2];
        for (var r = 0; r < ringers.Length; r++)
        {
            var seed = r;
            ringers[r] = new Thread(() =>
            {
                var random = new Random(seed);
                while (Volatile.Read(ref stop) == 0 && !waiter.IsCompleted)
                {
                    bell.Notify();
                    Thread.SpinWait(random.Next(0, 200));
                    if (random.Next(16) == 0)
                    {
                        // Leaves the waiter a core now and then: two ringers spinning on a 2-core machine starve it.
                        Thread.Yield();
                    }
                }
            }) { IsBackground = true };
            ringers[r].Start();
        }
        await Task.WhenAny(waiter, Task.Delay(Duration));
        Volatile.Write(ref stop, 1);
        foreach (var ringer in ringers)
        {
            ringer.Join();
        }
        bell.Notify();
        var finished = await Task.WhenAny(waiter, Task.Delay(TimeSpan.FromSeconds(2))) == waiter;
        Console.WriteLine($"{wakes} wake-ups in {Duration.TotalSeconds} s; {bell.ResumedWhileCompleting} resumed synchronously while their ringer was still completing them");
        Assert.IsTrue(finished, $"the waiter missed the last ring after {wakes} wake-ups");
        await waiter; // rethrows a fault of the loop
    }

    /// <summary>
    /// G_FMT ping-pong through the in-process transport, sessions on their own threads and spinning threads
    /// oversubscribing the cores so either endpoint is preempted anywhere, for <see cref="Duration"/>. No call may wait
    /// longer than a second (a lost kick or interrupt waits for the driver's 5 s timeout, then fails).
    /// </summary>
    [TestMethod]
    [DataRow(1)]
    [DataRow(4)]
    [Timeout(60_000, CooperativeCancellation = true)]
    public Task G_FMT_ping_pong_under_oversubscription_never_waits_a_second(int sessions) => Streamer.Guard(async () =>
    {
        await using var rig = RuntimeRig.Start(_ => new LoopbackDevice());
        var stop = 0;
        var spinners = new Thread[3];
        for (var s = 0; s < spinners.Length; s++)
        {
            var seed = s;
            spinners[s] = new Thread(() =>
            {
                var random = new Random(seed);
                while (Volatile.Read(ref stop) == 0)
                {
                    Thread.SpinWait(random.Next(0, 2000));
                    if (random.Next(4) == 0)
                    {
                        Thread.Yield();
                    }
                }
            }) { IsBackground = true };
            spinners[s].Start();
        }
        var loops = new Task<(long Calls, long WorstTicks)>[sessions];
        for (var i = 0; i < sessions; i++)
        {
            var session = await rig.Driver.OpenSessionAsync();
            loops[i] = Task.Run(async () =>
            {
                var format = new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
                var until = Stopwatch.GetTimestamp() + (long)(Duration.TotalSeconds * Stopwatch.Frequency);
                long calls = 0, worst = 0;
                while (Stopwatch.GetTimestamp() < until)
                {
                    var start = Stopwatch.GetTimestamp();
                    var got = await session.VIDIOC_G_FMT(format);
                    worst = Math.Max(worst, Stopwatch.GetTimestamp() - start);
                    if (got.Status != 0)
                    {
                        throw new InvalidOperationException($"G_FMT answered {got.Status}");
                    }
                    calls++;
                }
                return (calls, worst);
            });
        }
        try
        {
            var results = await Task.WhenAll(loops);
            long total = 0, worstTicks = 0;
            foreach (var (calls, worst) in results)
            {
                total += calls;
                worstTicks = Math.Max(worstTicks, worst);
            }
            var worstMs = worstTicks * 1000.0 / Stopwatch.Frequency;
            Console.WriteLine($"{sessions} session(s): {total} G_FMT in {Duration.TotalSeconds} s, the slowest {worstMs:F1} ms");
            Assert.IsTrue(total > 1000, $"only {total} calls");
            Assert.IsTrue(worstMs < 1000, $"a G_FMT waited {worstMs:F0} ms");
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            foreach (var spinner in spinners)
            {
                spinner.Join();
            }
        }
    }, seconds: 50);
}
