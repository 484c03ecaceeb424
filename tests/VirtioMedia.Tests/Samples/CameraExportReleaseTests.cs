using System;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Tests.Runtime;

namespace VirtioMedia.Tests.Samples;

/// <summary>
/// EXPBUF entries go with their buffers: a buffer has one UUID however often it is exported; an export outlives
/// REQBUFS(0) as a dma-buf does, until the exporter allocates again; CLOSE and the exporter's endpoint stopping
/// withdraw every export from the virtio object registry; an import of a withdrawn UUID is refused; an import
/// holds its memory until the importer lets go; and region 0 returns to its initial free space. Two cameras sharing a registry, driven by the driver endpoint over the in-process transport.
/// </summary>
[TestClass]
public sealed class CameraExportReleaseTests
{
    private const uint Buffers = 4;
    private const int Exports = 200;
    private const int Rounds = 5;

    [TestMethod]
    public Task Exports_are_withdrawn_by_CLOSE_and_a_new_REQBUFS_round_after_round() => Streamer.Guard(async () =>
    {
        var registry = new VirtioObjectRegistry();
        await using var exporterRig = CameraTests.Rig.Start(objects: registry);
        await using var importerRig = CameraTests.Rig.Start(objects: registry);
        var mmap = exporterRig.Device.Mmap;
        var initialFree = mmap.FreeBytes;
        Assert.AreEqual(mmap.Capacity, initialFree);
        var importer = await importerRig.Driver.OpenSessionAsync();
        var type = exporterRig.Camera.BufferType;
        var sizeImage = (await importer.VIDIOC_G_FMT(new v4l2_format { type = type })).Payload.fmt.pix.sizeimage;
        Assert.AreEqual(0, (await importer.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = Constants.V4L2_MEMORY_DMABUF, count = Buffers })).Status);

        for (var round = 0; round < Rounds; round++)
        {
            var exporter = await exporterRig.Driver.OpenSessionAsync();
            var uuids = await ExportAsync(exporter, type);
            Assert.AreEqual((int)Buffers, registry.Count, $"round {round}: {Exports} EXPBUF of {Buffers} buffers are {Buffers} objects");
            Assert.AreEqual(0, await ImportAsync(importer, type, 0, uuids[0], sizeImage), "an exported buffer imports");
            await DropImportsAsync(importer, type);

            if (round % 2 == 0)
            {
                // As a dma-buf outlives its V4L2 buffer, an export outlives REQBUFS(0): another session may import it.
                Assert.AreEqual(0, (await exporter.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = Constants.V4L2_MEMORY_MMAP, count = 0 })).Status);
                Assert.AreEqual((int)Buffers, registry.Count, $"round {round}: the exports outlive REQBUFS(0)");
                Assert.AreEqual(0, await ImportAsync(importer, type, 1, uuids[1], sizeImage), "a released buffer's export still imports");
                await DropImportsAsync(importer, type);
                // The exporter allocates again: the released buffers' exports go, so it holds one set of exports at most.
                var again = await ExportAsync(exporter, type);
                Assert.AreEqual((int)Buffers, registry.Count, $"round {round}: only the new buffers' exports remain");
                Assert.AreEqual(Constants.EINVAL, await ImportAsync(importer, type, 1, uuids[1], sizeImage), "an import of a withdrawn object is refused");
                Assert.AreEqual(mmap.Capacity - mmap.FreeBytes, Buffers * (ulong)((sizeImage + 4095) & ~4095u), "only the new buffers hold region 0");
                uuids = again;
            }
            // An import keeps its memory past the exporter's CLOSE, as an attached dma-buf does, until the importer lets go.
            Assert.AreEqual(0, await ImportAsync(importer, type, 3, uuids[3], sizeImage));
            await exporter.CloseAsync();
            Assert.AreEqual(0, registry.Count, $"round {round}: CLOSE withdrew every export");
            Assert.AreEqual(1, mmap.LiveBuffers, "the imported buffer lives while the importer holds it");
            Assert.AreEqual(mmap.Capacity - (ulong)((sizeImage + 4095) & ~4095u), mmap.FreeBytes);
            await DropImportsAsync(importer, type);
            Assert.AreEqual(0, mmap.LiveBuffers);
            Assert.AreEqual(initialFree, mmap.FreeBytes, $"round {round}: region 0 back to its initial free space");
            Assert.AreEqual(Constants.EINVAL, await ImportAsync(importer, type, 2, uuids[2], sizeImage));
        }

        // The exporter's endpoint stops with exports live: the stop closes the session and withdraws them.
        var last = await exporterRig.Driver.OpenSessionAsync();
        var lastUuids = await ExportAsync(last, type);
        Assert.AreEqual((int)Buffers, registry.Count);
        await exporterRig.Device.StopAsync();
        Assert.AreEqual(0, registry.Count, "the stop withdrew every export");
        Assert.AreEqual(initialFree, mmap.FreeBytes);
        Assert.AreEqual(Constants.EINVAL, await ImportAsync(importer, type, 3, lastUuids[3], sizeImage));
        Assert.AreEqual(0, (await importer.VIDIOC_G_FMT(new v4l2_format { type = type })).Status, "the importer is still served");
    }, seconds: 60);

    /// <summary>REQBUFS of MMAP buffers and <see cref="Exports"/> EXPBUF spread over them; the UUID of each buffer.</summary>
    private static async Task<Guid[]> ExportAsync(DriverSession exporter, uint type)
    {
        Assert.AreEqual(0, (await exporter.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = Constants.V4L2_MEMORY_MMAP, count = Buffers })).Status);
        var uuids = new Guid[Buffers];
        var bytes = new byte[16];
        for (var i = 0; i < Exports; i++)
        {
            var index = (uint)(i % Buffers);
            var exported = await exporter.VIDIOC_EXPBUF(new v4l2_exportbuffer { type = type, index = index }, new IoctlExtras { Uuids = bytes });
            Assert.AreEqual(0, exported.Status, $"EXPBUF {i}");
            var uuid = new Guid(bytes);
            Assert.AreNotEqual(Guid.Empty, uuid);
            if (uuids[index] == Guid.Empty)
            {
                uuids[index] = uuid;
            }
            Assert.AreEqual(uuids[index], uuid, "a buffer exported again keeps its UUID");
        }
        return uuids;
    }

    /// <summary>REQBUFS(0) and REQBUFS again: the importer lets go of every object it imported.</summary>
    private static async Task DropImportsAsync(DriverSession importer, uint type)
    {
        Assert.AreEqual(0, (await importer.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = Constants.V4L2_MEMORY_DMABUF, count = 0 })).Status);
        Assert.AreEqual(0, (await importer.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = Constants.V4L2_MEMORY_DMABUF, count = Buffers })).Status);
    }

    private static async Task<int> ImportAsync(DriverSession importer, uint type, uint index, Guid uuid, uint length)
    {
        var buffer = new v4l2_buffer { index = index, type = type, memory = Constants.V4L2_MEMORY_DMABUF, length = length };
        return (await importer.VIDIOC_QBUF(buffer, new IoctlExtras { Uuids = uuid.ToByteArray() })).Status;
    }
}
