using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.VhostUser;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Tests.VhostUser;

[TestClass]
public sealed class VhostUserEndToEndTests
{
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public async Task A_chain_crosses_from_the_frontend_mapping_to_the_backend_mapping_and_back(bool eventIndex)
    {
        var config = new byte[40];
        config[8] = (byte)'c';
        var device = new TaskCompletionSource<IDeviceTransport>(TaskCreationOptions.RunContinuationsAsynchronously);
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions { Config = config, SharedMemorySize = 1 << 20, StopTimeout = TimeSpan.FromSeconds(2) },
            async (transport, token) =>
            {
                device.TrySetResult(transport);
                try
                {
                    await Task.Delay(Timeout.Infinite, token);
                }
                catch (OperationCanceledException)
                {
                    stopped.TrySetResult();
                }
            });
        var (frontendEnd, backendEnd) = VhostUserChannel.CreatePair();
        var serving = backend.ServeConnectionAsync(backendEnd, CancellationToken.None);
        using (var frontend = await Task.Run(() => VhostUserFrontend.Connect(frontendEnd, new VhostUserFrontendOptions { MemorySize = 1 << 20, NegotiateEventIndex = eventIndex }))
            .WaitAsync(TimeSpan.FromSeconds(10)))
        {
            var transport = await device.Task.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.AreEqual(eventIndex, frontend.EventIndex);
            Assert.AreEqual((byte)'c', frontend.ReadConfig().card[0]);

            // Two mappings of one memfd: the rings the frontend laid out are where the backend looks.
            Assert.AreNotEqual(frontend.Memory.Regions[0].Host, transport.Memory.Regions[0].Host);
            Assert.AreEqual(frontend.CommandQueueLayout, transport.CommandQueue.Layout);
            Assert.AreEqual(frontend.EventQueueLayout, transport.EventQueue.Layout);

            var driver = new DriverQueue<int>(frontend.Memory, frontend.CommandQueueLayout, frontend.EventIndex);
            var (start, length) = frontend.BufferArea;
            Assert.IsTrue(length >= 8192);
            frontend.Memory.GetSpan(start, 4).Fill(0x11);
            Assert.IsTrue(driver.TryAdd([new ChainSegment(start, 4)], [new ChainSegment(start + 4096, 8)], 42, out var kick));
            Assert.IsTrue(kick);
            frontend.CommandKickToDevice.Notify();

            await transport.CommandKicksFromDriver.WaitAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
            Assert.IsTrue(transport.CommandQueue.TryPop(out var chain));
            Assert.AreEqual(1, chain.Readable.Count);
            CollectionAssert.AreEqual(new byte[] { 0x11, 0x11, 0x11, 0x11 }, transport.Memory.GetSpan(chain.Readable[0].Address, 4).ToArray());
            transport.Memory.GetSpan(chain.Writable[0].Address, 8).Fill(0x22);
            Assert.IsTrue(transport.CommandQueue.Push(chain, 8));
            transport.CommandInterruptToDriver.Notify();

            await frontend.CommandInterruptsFromDevice.WaitAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
            Assert.IsTrue(driver.TryTakeUsed(out var token, out var written));
            Assert.AreEqual(42, token);
            Assert.AreEqual(8u, written);
            CollectionAssert.AreEqual(new byte[] { 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22 }, frontend.Memory.GetSpan(start + 4096, 8).ToArray());

            // Shared memory region 0: the backend's memfd, mapped into the frontend by SHMEM_MAP.
            Assert.AreEqual(transport.SharedMemory.Length, frontend.SharedMemory.Length);
            transport.SharedMemory.GetSpan(0x8000, 3).Fill(0x33);
            CollectionAssert.AreEqual(new byte[] { 0x33, 0x33, 0x33 }, frontend.SharedMemory.GetSpan(0x8000, 3).ToArray());
            frontend.SharedMemory.GetSpan(0xFFFFF, 1)[0] = 0x44;
            Assert.AreEqual(0x44, transport.SharedMemory.GetSpan(0xFFFFF, 1)[0]);
        }
        // The frontend went away: the device is stopped and the connection closed.
        await stopped.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [TestMethod]
    public async Task A_backend_that_goes_away_is_noticed_by_the_frontend()
    {
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions { Config = new byte[40], SharedMemorySize = 1 << 16 },
            (_, token) => Task.Delay(Timeout.Infinite, token).ContinueWith(_ => { }, TaskScheduler.Default));
        var (frontendEnd, backendEnd) = VhostUserChannel.CreatePair();
        using var stop = new CancellationTokenSource();
        var serving = backend.ServeConnectionAsync(backendEnd, stop.Token);
        using var frontend = await Task.Run(() => VhostUserFrontend.Connect(frontendEnd, new VhostUserFrontendOptions { MemorySize = 1 << 20 }))
            .WaitAsync(TimeSpan.FromSeconds(10));
        Assert.IsFalse(frontend.ConnectionLost.IsCancellationRequested);
        stop.Cancel();
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
        await Task.Delay(Timeout.Infinite, frontend.ConnectionLost).ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(TimeSpan.FromSeconds(5));
    }
}
