using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// A device that takes shared memory region 0 back under a mapped MMAP buffer (as vhost-user SHMEM_UNMAP does; the
/// front-end leaves zero pages there): a reader holding the old span reads zeros and stays up, and the application's
/// next access to the buffer fails with a reason; buffers elsewhere and the session keep working.
/// </summary>
[TestClass]
public sealed class DriverMappingRevocationTests
{
    [TestMethod]
    public Task A_range_the_device_unmaps_under_a_reader_reads_zeros_and_its_next_access_fails_clearly() => Streamer.Guard(async () =>
    {
        using var transport = new InProcessTransport();
        await using var device = new DeviceEndpoint(transport, TestCaptureDevice.Config, _ => new TestCaptureDevice());
        transport.Config = device.Config;
        var unmapping = new UnmappingTransport(transport.Driver);
        var driver = DriverEndpoint.Start(unmapping, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(5) });
        device.Start();
        try
        {
            var session = await driver.OpenSessionAsync();
            await Streamer.NegotiateAsync(session);
            await Streamer.RequestBuffersAsync(session, Constants.V4L2_MEMORY_MMAP, 2);
            var maps = new MappedBuffer[2];
            for (uint i = 0; i < 2; i++)
            {
                var info = await session.VIDIOC_QUERYBUF(new v4l2_buffer { index = i, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP });
                maps[i] = await session.MapAsync(info.Payload.m.offset);
                maps[i].Span.Fill((byte)(0x41 + i));
            }

            // A reader that took the span before the unmap and keeps reading it.
            using var started = new ManualResetEventSlim();
            using var stop = new ManualResetEventSlim();
            var sawOther = false;
            var reads = 0L;
            var reader = Task.Factory.StartNew(() =>
            {
                var stale = maps[0].Span;
                started.Set();
                while (!stop.IsSet)
                {
                    foreach (var b in stale)
                    {
                        sawOther |= b != 0x41 && b != 0;
                    }
                    reads++;
                }
            }, TaskCreationOptions.LongRunning);
            started.Wait(TimeSpan.FromSeconds(5));
            unmapping.Unmap(maps[0].DriverAddress, maps[0].Length);
            var readsAtUnmap = Interlocked.Read(ref reads);
            await Streamer.SpinUntil(() => Interlocked.Read(ref reads) > readsAtUnmap + 10);
            stop.Set();
            await reader.WaitAsync(TimeSpan.FromSeconds(5));

            Assert.IsFalse(sawOther, "the stale reader saw the buffer's bytes or zeros, nothing else");
            Assert.IsTrue(maps[0].IsRevoked);
            var error = Assert.ThrowsExactly<ObjectDisposedException>(() => maps[0].Span.Length);
            StringAssert.Contains(error.Message, "the device unmapped", "the message says what happened");
            StringAssert.Contains(error.Message, $"0x{maps[0].DriverAddress:X}");

            Assert.IsFalse(maps[1].IsRevoked, "a buffer outside the range is untouched");
            Assert.AreEqual(-1, maps[1].Span.IndexOfAnyExcept((byte)0x42));
            await StreamingTests.StreamMmapAsync(await driver.OpenSessionAsync(), frames: 4);
        }
        finally
        {
            await driver.DisposeAsync();
        }
    });

    [TestMethod]
    public Task Disposing_the_endpoint_revokes_every_buffer_still_mapped() => Streamer.Guard(async () =>
    {
        var rig = RuntimeRig.Start();
        var session = await rig.Driver.OpenSessionAsync();
        await Streamer.NegotiateAsync(session);
        await Streamer.RequestBuffersAsync(session, Constants.V4L2_MEMORY_MMAP, 1);
        var info = await session.VIDIOC_QUERYBUF(new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP });
        var map = await session.MapAsync(info.Payload.m.offset);
        Assert.IsFalse(map.IsRevoked);
        await rig.DisposeAsync();
        Assert.IsTrue(map.IsRevoked);
        var error = Assert.ThrowsExactly<ObjectDisposedException>(() => map.Span.Length);
        StringAssert.Contains(error.Message, "disposed");
    });

    /// <summary>The in-process driver transport, plus what a vhost-user front-end does on SHMEM_UNMAP: zero pages
    /// in the range (here: the range zeroed in place), then the notice.</summary>
    private sealed class UnmappingTransport(IDriverTransport inner) : IDriverTransport, ISharedMemoryUnmapSource
    {
        public event Action<ulong, ulong>? SharedMemoryUnmapped;

        public GuestMemory Memory => inner.Memory;

        public bool EventIndex => inner.EventIndex;

        public SplitQueueLayout CommandQueueLayout => inner.CommandQueueLayout;

        public SplitQueueLayout EventQueueLayout => inner.EventQueueLayout;

        public (ulong Start, ulong Length) BufferArea => inner.BufferArea;

        public INotifier CommandKickToDevice => inner.CommandKickToDevice;

        public INotifier EventKickToDevice => inner.EventKickToDevice;

        public INotificationSource CommandInterruptsFromDevice => inner.CommandInterruptsFromDevice;

        public INotificationSource EventInterruptsFromDevice => inner.EventInterruptsFromDevice;

        public SharedMemoryRegion SharedMemory => inner.SharedMemory;

        public virtio_media_config ReadConfig() => inner.ReadConfig();

        public void Unmap(ulong offset, ulong length)
        {
            SharedMemory.GetSpan(offset, length).Clear();
            SharedMemoryUnmapped?.Invoke(offset, length);
        }
    }
}
