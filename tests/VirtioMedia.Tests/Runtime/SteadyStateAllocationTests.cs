using System;
using System.Diagnostics;
using System.Linq;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// Once warm, an ioctl round trip allocates nothing, on either side: the driver's typed call, its command slot and
/// completion, the doorbells, the device's command loop, session queue, dispatch and event path. Measured
/// process-wide with <see cref="GC.GetTotalAllocatedBytes(bool)"/> (the two endpoints run on their own threads), so
/// this class runs alone.
/// </summary>
/// <remarks>
/// The process allocates a little on its own: an idle window of the same length, with nothing sent, shows 0 bytes
/// most of the time and now and then 168-280 bytes (the test host's threads), and a loaded machine makes the thread
/// pool add threads, whose first work allocates their thread-local state once. So each measurement is split into
/// <see cref="Batches"/> batches of 2000 ioctls, and the test asks for a median batch within <see cref="NoiseBound"/>
/// bytes and at least one batch of exactly 0 bytes, in one of up to three measurements. Anything the path allocated
/// per ioctl, even one 24-byte object in every hundred ioctls, puts every batch of every measurement above the bound
/// (before this test existed a QBUF + DQBUF cycle cost 770 bytes, 770 KB per batch).
/// </remarks>
[TestClass]
[DoNotParallelize]
public sealed class SteadyStateAllocationTests
{
    private const int Batches = 9;
    private const int NoiseBound = 256;
    private const int Attempts = 3;

    [TestMethod]
    public Task G_FMT_and_S_FMT_round_trips_allocate_nothing_once_warm() => Streamer.Guard(async () =>
    {
        RequireOptimizedBuild();
        await using var rig = RuntimeRig.Start(_ => new LoopbackDevice());
        var session = await rig.Driver.OpenSessionAsync();
        using var cancellation = new CancellationTokenSource();
        // 1000 rounds of G_FMT + S_FMT per batch, every other round with a cancellable token (its registration must
        // not allocate either).
        await AssertNoAllocationAsync(() => FormatRoundsAsync(session, 1000, cancellation.Token), "2000 G_FMT/S_FMT ioctls");
    }, seconds: 120);

    [TestMethod]
    public Task QBUF_and_DQBUF_event_cycles_allocate_nothing_once_warm() => Streamer.Guard(async () =>
    {
        RequireOptimizedBuild();
        await using var rig = RuntimeRig.Start(_ => new LoopbackDevice());
        var session = await rig.Driver.OpenSessionAsync();
        Assert.AreEqual(0, (await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP, count = 4 })).Status);
        Assert.AreEqual(0, (await session.VIDIOC_STREAMON((int)Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE)).Status);
        await AssertNoAllocationAsync(() => CyclesAsync(session, 2000), "2000 QBUF + DQBUF-event cycles");
    }, seconds: 120);

    /// <summary>
    /// Measures up to <see cref="Attempts"/> times and passes on the first measurement with a median batch within
    /// <see cref="NoiseBound"/> and one batch of 0 bytes. The counter is process-wide, so on a heavily loaded machine
    /// other threads' allocations (the test host's, a thread the pool injects) can land in every batch of one
    /// measurement; they come and go, while an allocation on the ioctl path is in every batch of every measurement.
    /// </summary>
    private static async Task AssertNoAllocationAsync(Func<Task<long[]>> measure, string batch)
    {
        var figures = new System.Collections.Generic.List<string>();
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            var batches = await measure();
            var sorted = batches.Order().ToArray();
            if (sorted[Batches / 2] <= NoiseBound && sorted[0] == 0)
            {
                return;
            }
            figures.Add(string.Join(", ", batches));
        }
        Assert.Fail($"in {Attempts} measurements, none had a median batch within {NoiseBound} bytes and a batch of 0 bytes; bytes allocated per batch of {batch}: {string.Join(" | ", figures)}");
    }

    /// <summary>
    /// One warm-up batch, then <see cref="Batches"/> measured ones of <paramref name="rounds"/> rounds each; returns the
    /// bytes the whole process allocated per measured batch. Measured inside the loop, so this method's own state
    /// machine (boxed at its first suspension, during the warm-up) is not counted.
    /// </summary>
    private static async Task<long[]> FormatRoundsAsync(DriverSession session, int rounds, CancellationToken cancellationToken)
    {
        var allocated = new long[Batches];
        var format = new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
        var before = 0L;
        for (var i = 0; i < (Batches + 1) * rounds; i++)
        {
            if (i % rounds == 0)
            {
                before = Mark(allocated, i / rounds, before);
            }
            var token = (i & 1) == 0 ? cancellationToken : CancellationToken.None;
            var got = await session.VIDIOC_G_FMT(format, cancellationToken: token);
            Check(got.Status == 0 && got.Payload.fmt.pix.width != 0, "G_FMT failed");
            var wanted = got.Payload;
            wanted.fmt.pix.width = (uint)(16 + (i % 64));
            var set = await session.VIDIOC_S_FMT(wanted, cancellationToken: token);
            Check(set.Status == 0 && set.Payload.fmt.pix.sizeimage == wanted.fmt.pix.width * wanted.fmt.pix.height, "S_FMT did not take the width");
        }
        Mark(allocated, Batches + 1, before);
        return allocated;
    }

    /// <summary>QBUF, then the DQBUF event; batches as in <see cref="FormatRoundsAsync"/>.</summary>
    private static async Task<long[]> CyclesAsync(DriverSession session, int cycles)
    {
        var allocated = new long[Batches];
        var buffer = new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP };
        var before = 0L;
        for (var i = 0; i < (Batches + 1) * cycles; i++)
        {
            if (i % cycles == 0)
            {
                before = Mark(allocated, i / cycles, before);
            }
            buffer.index = (uint)(i % 4);
            var queued = await session.VIDIOC_QBUF(buffer);
            Check(queued.Status == 0, "QBUF failed");
            // No token: a channel serves an uncancellable read from a cached operation.
            var done = await session.DequeuedBuffers.ReadAsync();
            Check(done.Buffer.index == buffer.index, "DQBUF returned another buffer");
        }
        Mark(allocated, Batches + 1, before);
        return allocated;
    }

    /// <summary>At the start of batch <paramref name="batch"/> (0 is the warm-up): closes the previous one.</summary>
    private static long Mark(long[] allocated, int batch, long before)
    {
        var now = GC.GetTotalAllocatedBytes(precise: true);
        if (batch >= 2)
        {
            allocated[batch - 2] = now - before;
        }
        return GC.GetTotalAllocatedBytes(precise: true);
    }

    /// <summary>Asserts without formatting a message (which would allocate) unless it fails.</summary>
    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            Assert.Fail(message);
        }
    }

    /// <summary>A debug build boxes every async state machine on the heap, by design; only optimised code is allocation-free.</summary>
    private static void RequireOptimizedBuild()
    {
        foreach (var assembly in new[] { typeof(DriverEndpoint).Assembly, typeof(IoctlCalls).Assembly, typeof(SteadyStateAllocationTests).Assembly })
        {
            if (assembly.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled == true)
            {
                Assert.Inconclusive($"{assembly.GetName().Name} is a debug build: run with -c Release to measure allocations");
            }
        }
    }
}
