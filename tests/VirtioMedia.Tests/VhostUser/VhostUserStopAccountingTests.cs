using System;
using System.Buffers.Binary;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.VhostUser;
using VirtioMedia.Tests.Runtime;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>
/// After a stop, the used ring accounts for every chain the device took on both queues, read from the front-end's
/// own mapping: used.idx equals the number of chains popped (what GET_VRING_BASE reports), with event buffers
/// still offered and unused, and with an event delivered before the stop.
/// </summary>
[TestClass]
public sealed class VhostUserStopAccountingTests
{
    [TestMethod]
    public async Task Used_index_equals_the_chains_popped_on_both_queues_after_a_stop()
    {
        var path = Path.Combine(Path.GetTempPath(), "vm-stop-" + Guid.NewGuid().ToString("N") + ".sock");
        DeviceEndpoint? endpoint = null;
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions { Config = new byte[40], SharedMemorySize = 1 << 20, StopTimeout = TimeSpan.FromSeconds(1) },
            transport =>
            {
                var created = new DeviceEndpoint(transport, TestCaptureDevice.Config, _ => new TestCaptureDevice());
                Volatile.Write(ref endpoint, created);
                return created;
            });
        using var stop = new CancellationTokenSource();
        var running = backend.RunAsync(path, stop.Token);
        for (var i = 0; i < 100 && !File.Exists(path); i++)
        {
            await Task.Delay(20);
        }
        using var frontend = await Task.Run(() => VhostUserFrontend.Connect(VhostUserChannel.Connect(path), new VhostUserFrontendOptions { MemorySize = 1 << 20 })).WaitAsync(TimeSpan.FromSeconds(10));
        await using var driver = DriverEndpoint.Start(frontend, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(5) });
        var session = await driver.OpenSessionAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        var device = Volatile.Read(ref endpoint)!;
        Assert.IsTrue(device.TryGetSession(session.Id, out var deviceSession));
        Assert.IsTrue(deviceSession.EmitEvent(new v4l2_event { type = Constants.V4L2_EVENT_SOURCE_CHANGE }));
        for (var i = 0; i < 100 && device.Transport.EventQueue.NextUsed == 0; i++)
        {
            await Task.Delay(20);
        }

        static ushort U16(VhostUserFrontend frontend, ulong address) => BinaryPrimitives.ReadUInt16LittleEndian(frontend.Memory.GetSpan(address, 2));
        var eventLayout = frontend.EventQueueLayout;
        var commandLayout = frontend.CommandQueueLayout;
        var offered = U16(frontend, eventLayout.AvailableIndex);
        stop.Cancel();
        await running.WaitAsync(TimeSpan.FromSeconds(20));

        var commandsPopped = device.Transport.CommandQueue.NextAvailable;
        var eventsPopped = device.Transport.EventQueue.NextAvailable;
        Console.WriteLine($"after the stop: commands popped {commandsPopped}, used.idx {U16(frontend, commandLayout.UsedIndex)}; event buffers offered {offered}, popped {eventsPopped}, used.idx {U16(frontend, eventLayout.UsedIndex)}");
        Assert.AreEqual(1, eventsPopped, "one event buffer taken for the one event");
        Assert.IsTrue(offered > eventsPopped, $"event buffers still offered and unused ({offered} offered)");
        Assert.AreEqual(eventsPopped, U16(frontend, eventLayout.UsedIndex), "event queue: used.idx is the buffers popped");
        Assert.IsTrue(commandsPopped >= 1, "OPEN was popped");
        Assert.AreEqual(commandsPopped, U16(frontend, commandLayout.UsedIndex), "command queue: used.idx is the chains popped");
    }
}
