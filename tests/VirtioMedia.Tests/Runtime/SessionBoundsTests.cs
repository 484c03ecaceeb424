using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// Sessions are bounded: a driver that opens and never closes reaches <see cref="DeviceEndpointOptions.MaxSessions"/>,
/// is answered ENOMEM from then on, and costs the host a bounded amount of memory; closing gives everything back.
/// Driven through a <see cref="RawDriver"/> over the in-process transport.
/// </summary>
[TestClass]
public sealed class SessionBoundsTests
{
    private const int Attempts = 20_000;

    /// <summary>What a session may cost the managed heap (its IoctlMessage buffers, context, handler): measured at
    /// 63 to 79 KB, so the default cap holds at most 24 MiB of sessions.</summary>
    private const long SessionBudget = 96 << 10;

    [TestMethod]
    public Task Opens_past_the_cap_are_answered_ENOMEM_in_bounded_memory_and_closing_leaves_nothing() => Streamer.Guard(async () =>
    {
        var probe = new HandlerProbe();
        using var transport = new InProcessTransport();
        await using var driver = new RawDriver(transport);
        await using var device = new DeviceEndpoint(transport, ProbeHandler.Config, session => new ProbeHandler(probe, session));
        transport.Config = device.Config;
        device.Start();
        Assert.AreEqual(DeviceEndpointOptions.DefaultMaxSessions, device.Options.MaxSessions);
        const int Cap = DeviceEndpointOptions.DefaultMaxSessions;

        // Warm-up: one session opened and closed, so the pools and the JIT are not counted as session cost.
        var warm = await driver.SendAsync(RawCommands.Open(), 16);
        Assert.AreEqual(0u, RawCommands.Status(warm));
        Assert.AreEqual(0u, RawCommands.Status(await driver.SendAsync(RawCommands.Close(RawCommands.SessionId(warm)), 8)));
        var baseline = Heap();

        var open = new List<uint>();
        long atCap = 0;
        var refused = 0;
        for (var i = 0; i < Attempts; i++)
        {
            var answer = await driver.SendAsync(RawCommands.Open(), 16);
            if (RawCommands.Status(answer) == 0)
            {
                Assert.AreEqual(16, answer.Length);
                open.Add(RawCommands.SessionId(answer));
            }
            else
            {
                Assert.AreEqual(RawCommands.RespHeader, answer.Length, "a refused OPEN is a bare header");
                Assert.AreEqual((uint)Constants.ENOMEM, RawCommands.Status(answer));
                refused++;
            }
            if (i == Cap - 1)
            {
                atCap = Heap();
            }
        }
        var afterAttempts = Heap();
        Assert.AreEqual(Cap, open.Count, "exactly the cap's worth of sessions opened");
        Assert.AreEqual(Attempts - Cap, refused);
        Assert.AreEqual((long)refused, device.RefusedOpens);
        Assert.AreEqual(Cap, device.SessionCount);
        var perSession = (atCap - baseline) / Cap;
        Console.WriteLine($"heap: {perSession} B a session, +{(atCap - baseline) >> 10} KiB at the cap, +{(afterAttempts - baseline) >> 10} KiB after {Attempts} attempts");
        Assert.IsTrue(perSession < SessionBudget, $"a session costs {perSession} B, budget {SessionBudget}");
        Assert.IsTrue(afterAttempts - atCap < 1 << 20, $"{refused} refused OPENs retained {afterAttempts - atCap} B");

        // A good peer is served: a slot freed by CLOSE is open to a new session, which answers correctly.
        Assert.AreEqual(0u, RawCommands.Status(await driver.SendAsync(RawCommands.Close(open[0]), 8)));
        open.RemoveAt(0);
        var fresh = await driver.SendAsync(RawCommands.Open(), 16);
        Assert.AreEqual(0u, RawCommands.Status(fresh));
        var id = RawCommands.SessionId(fresh);
        open.Add(id);
        var format = await driver.SendAsync(RawCommands.Ioctl(id, Ioctls.VIDIOC_G_FMT.Descriptor, new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE }), RawCommands.RespHeader + Unsafe.SizeOf<v4l2_format>());
        Assert.AreEqual(0u, RawCommands.Status(format));
        Assert.AreEqual(id, RawCommands.Payload<v4l2_format>(format).fmt.pix.width, "the new session's own handler answered");

        foreach (var session in open)
        {
            Assert.AreEqual(0u, RawCommands.Status(await driver.SendAsync(RawCommands.Close(session), 8)));
        }
        Assert.AreEqual(0, device.SessionCount);
        Assert.AreEqual(probe.Created, probe.Disposed, "every handler disposed");
        Assert.AreEqual(Cap + 2, probe.Created, "no handler for a refused OPEN");
        Assert.AreEqual(0, probe.DisposedTwice);
        var afterClose = Heap();
        Assert.IsTrue(afterClose - baseline < 1 << 20, $"closing every session left {afterClose - baseline} B");
    }, seconds: 120);

    [TestMethod]
    public Task The_cap_is_configurable() => Streamer.Guard(async () =>
    {
        using var transport = new InProcessTransport();
        await using var driver = new RawDriver(transport);
        await using var device = new DeviceEndpoint(transport, LoopbackDevice.Config, _ => new LoopbackDevice(), options: new DeviceEndpointOptions { MaxSessions = 3 });
        transport.Config = device.Config;
        device.Start();
        for (var i = 0; i < 3; i++)
        {
            Assert.AreEqual(0u, RawCommands.Status(await driver.SendAsync(RawCommands.Open(), 16)));
        }
        Assert.AreEqual((uint)Constants.ENOMEM, RawCommands.Status(await driver.SendAsync(RawCommands.Open(), 16)));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new DeviceEndpoint(transport, LoopbackDevice.Config, _ => new LoopbackDevice(), options: new DeviceEndpointOptions { MaxSessions = 0 }));
    });

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
