using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.VhostUser;
using VirtioMedia.Tests.Runtime;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>
/// A front-end that corrupts the command ring, written raw into its own guest memory over a real socket: the
/// device endpoint reports the broken queue (<see cref="DeviceEndpoint.NeedsReset"/>, the queue's error) and the
/// back-end logs it once however often the front-end kicks; a good OPEN before the corruption was served.
/// </summary>
[TestClass]
public sealed class VhostUserBrokenQueueTests
{
    [TestMethod]
    public async Task A_corrupt_command_ring_is_reported_by_the_endpoint_and_logged_once_across_many_kicks()
    {
        var path = Path.Combine(Path.GetTempPath(), "vm-broken-" + Guid.NewGuid().ToString("N") + ".sock");
        var log = new List<string>();
        DeviceEndpoint? endpoint = null;
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions
            {
                Config = new byte[40],
                SharedMemorySize = 1 << 20,
                StopTimeout = TimeSpan.FromSeconds(1),
                Log = line => { lock (log) { log.Add(line); } },
            },
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
        using (var frontend = await Task.Run(() => VhostUserFrontend.Connect(VhostUserChannel.Connect(path), new VhostUserFrontendOptions { MemorySize = 1 << 20 })).WaitAsync(TimeSpan.FromSeconds(10)))
        {
            await using (var driver = DriverEndpoint.Start(frontend, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(5) }))
            {
                await driver.OpenSessionAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5));
                var device = Volatile.Read(ref endpoint)!;
                Assert.IsFalse(device.NeedsReset, "a good ring serves");
                Assert.IsNull(device.QueueError);

                // avail.idx the queue size + 5 ahead of what the device has read (split ring: after the flags).
                var layout = frontend.CommandQueueLayout;
                var index = BinaryPrimitives.ReadUInt16LittleEndian(frontend.Memory.GetSpan(layout.AvailableIndex, 2));
                BinaryPrimitives.WriteUInt16LittleEndian(frontend.Memory.GetSpan(layout.AvailableIndex, 2), (ushort)(index + layout.Size + 5));
                for (var kick = 0; kick < 200; kick++)
                {
                    frontend.CommandKickToDevice.Notify();
                    await Task.Delay(2);
                }
                for (var i = 0; i < 100 && !device.NeedsReset; i++)
                {
                    await Task.Delay(20);
                }
                Assert.IsTrue(device.NeedsReset, "the endpoint reports the broken queue");
                StringAssert.Contains(device.QueueError!.Message, "more than the queue size");
                Assert.AreEqual(1L, device.ProtocolErrors, "counted once");
                await Task.Delay(200);
                lock (log)
                {
                    var broken = log.Where(line => line.StartsWith("queue 0 broken", StringComparison.Ordinal)).ToList();
                    Console.WriteLine($"log lines about the broken queue after 200 kicks: {broken.Count}: {string.Join(" | ", broken)}");
                    Assert.AreEqual(1, broken.Count, string.Join(" | ", log));
                    StringAssert.Contains(broken[0], "needs a reset");
                }
            }
        }
        stop.Cancel();
        await running.WaitAsync(TimeSpan.FromSeconds(20));
    }
}
