using System;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Tests.Wire;

/// <summary>Malformed chains: the device role answers an errno, the driver role an error, and neither throws.</summary>
[TestClass]
public sealed class HostileInputTests
{
    private static LeBytes Header(uint code) => new LeBytes().U32(3).U32(0).U32(1).U32(code);

    private static int DeviceErrno(byte[] chain)
    {
        var message = new IoctlMessage(sgCapacity: 64);
        return Chains.Read(chain, (ref ChainReader r) => IoctlCodec.DecodeRequest(ref r, message)).Result.Errno;
    }

    [TestMethod]
    public void Replaced_and_unknown_ioctls_answer_enotty()
    {
        foreach (var code in new uint[] { 0 /* QUERYCAP */, 17 /* DQBUF */, 89 /* DQEVENT */, 61, 62, 70, 200, 0xFFFFFFFF })
        {
            Assert.AreEqual(Errno.ENOTTY, DeviceErrno(Header(code).Zeros(256).ToArray()), $"code {code}");
        }
    }

    [TestMethod]
    public void Nine_planes_is_einval()
    {
        // QBUF, type CAPTURE_MPLANE, memory MMAP, length 9 planes
        var chain = Header(15).U32(0).U32(9).PadTo(16 + 60).U32(1).U64(0).U32(9).PadTo(16 + 88).Zeros(9 * 64).ToArray();
        Assert.AreEqual(Errno.EINVAL, DeviceErrno(chain));
    }

    [TestMethod]
    public void Huge_control_count_is_refused_before_reading()
    {
        var chain = Header(72).U32(0).U32(0xFFFFFFFF).PadTo(16 + 32).ToArray();
        Assert.AreEqual(Errno.EINVAL, DeviceErrno(chain));
        // Within the limit but more than the chain holds: EFAULT.
        chain = Header(72).U32(0).U32(1000).PadTo(16 + 32).Zeros(20).ToArray();
        Assert.AreEqual(Errno.EFAULT, DeviceErrno(chain));
    }

    [TestMethod]
    public void Sg_lists_must_cover_exactly()
    {
        // USERPTR single-planar, length 0x1000
        var payload = Header(15).U32(0).U32(1).PadTo(16 + 60).U32(2).U64(0x7000).U32(0x1000).PadTo(16 + 88);
        Assert.AreEqual(Errno.EINVAL, DeviceErrno(Clone(payload).U64(0x1000).U32(0x1001).U32(0).ToArray()), "over-covering entry");
        Assert.AreEqual(Errno.EINVAL, DeviceErrno(Clone(payload).U64(0x1000).U32(0).U32(0).ToArray()), "empty entry");
        Assert.AreEqual(Errno.EFAULT, DeviceErrno(Clone(payload).U64(0x1000).U32(0x800).U32(0).ToArray()), "chain ends before covering");
        Assert.AreEqual(Errno.EOVERFLOW, DeviceErrno(Clone(payload).U64(ulong.MaxValue - 4).U32(0x1000).U32(0).ToArray()), "wrapping entry");
        Assert.AreEqual(0, DeviceErrno(Clone(payload).U64(0x1000).U32(0x800).U32(0).U64(0x3000).U32(0x800).U32(0).ToArray()), "exact cover");
        // 0x1000 bytes in 1-byte entries need more SG entries than the device reserved (64).
        var many = Clone(payload);
        for (var i = 0; i < 0x1000; i++)
        {
            many.U64((ulong)i).U32(1).U32(0);
        }
        Assert.AreEqual(Errno.ENOMEM, DeviceErrno(many.ToArray()));
    }

    [TestMethod]
    public void Every_truncation_of_valid_commands_is_an_errno()
    {
        byte[][] valid =
        {
            // QBUF USERPTR multi-planar, 2 planes of 16 bytes, one SG entry each
            Header(15).U32(0).U32(9).PadTo(16 + 60).U32(2).U64(0x7000).U32(2).PadTo(16 + 88)
                .U32(0).U32(16).PadTo(16 + 88 + 64).U32(0).U32(16).PadTo(16 + 88 + 128)
                .U64(0x1000).U32(16).U32(0).U64(0x2000).U32(16).U32(0).ToArray(),
            // G_FMT
            Header(4).U32(1).PadTo(16 + 208).ToArray(),
        };
        foreach (var chain in valid)
        {
            Assert.AreEqual(0, DeviceErrno(chain));
            for (var length = 0; length < chain.Length; length++)
            {
                var errno = DeviceErrno(chain[..length]);
                Assert.IsTrue(errno is Errno.EINVAL or Errno.EFAULT, $"length {length}: {errno}");
            }
        }
    }

    [TestMethod]
    public void Random_and_mutated_chains_never_throw()
    {
        var random = new Random(1234);
        var message = new IoctlMessage(sgCapacity: 64);
        var seed = Header(15).U32(0).U32(10).PadTo(16 + 60).U32(2).U64(0x7000).U32(1).PadTo(16 + 88)
            .U32(0).U32(32).PadTo(16 + 88 + 64).U64(0x1000).U32(32).U32(0).ToArray();
        for (var i = 0; i < 3000; i++)
        {
            byte[] chain;
            if (i % 2 == 0)
            {
                chain = (byte[])seed.Clone();
                for (var flips = random.Next(1, 6); flips > 0; flips--)
                {
                    chain[random.Next(chain.Length)] = (byte)random.Next(256);
                }
            }
            else
            {
                chain = new byte[random.Next(0, 700)];
                random.NextBytes(chain);
                if (chain.Length >= 16)
                {
                    chain[0] = 3; chain[1] = chain[2] = chain[3] = 0; // mostly reach the ioctl decoder
                    chain[12] = (byte)random.Next(100); chain[13] = chain[14] = chain[15] = 0;
                }
            }
            var result = Chains.Read(chain, (ref ChainReader r) => IoctlCodec.DecodeRequest(ref r, message), random);
            if (result.Result.IsSuccess)
            {
                // Whatever decoded must encode back without throwing.
                Chains.Write((ref ChainWriter w) => IoctlCodec.EncodeResponse(message, 0, true, ref w), capacity: random.Next(0, 4096), random: random);
            }
        }
    }

    [TestMethod]
    public void Driver_rejects_hostile_responses()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_QBUF.Descriptor, 1);
        ref var buffer = ref driver.PayloadAs<v4l2_buffer>();
        (buffer.type, buffer.memory, buffer.length) = (9, 1, 1);
        driver.ElementCount = 1;
        Assert.IsTrue(Chains.Write((ref ChainWriter w) => IoctlCodec.EncodeRequest(driver, ref w)).Result.IsSuccess);

        int status;
        // Claims 8 planes where the driver gave room for 1.
        var claim = new LeBytes().U32(0).U32(0).U32(0).U32(9).PadTo(8 + 60).U32(1).U64(0).U32(8).PadTo(8 + 88).Zeros(64).ToArray();
        Assert.AreEqual(Errno.EINVAL, Chains.Read(claim, (ref ChainReader r) => IoctlCodec.DecodeResponse(ref r, driver, out status)).Result.Errno);
        Assert.AreEqual(1u, driver.PayloadAs<v4l2_buffer>().length, "a refused response leaves the message as it was");
        // Truncated payload, status that is not an errno, empty chain.
        Assert.AreEqual(Errno.EFAULT, Chains.Read(claim[..50], (ref ChainReader r) => IoctlCodec.DecodeResponse(ref r, driver, out status)).Result.Errno);
        Assert.AreEqual(Errno.EINVAL, Chains.Read(new LeBytes().U32(0x80000000).U32(0).ToArray(), (ref ChainReader r) => IoctlCodec.DecodeResponse(ref r, driver, out status)).Result.Errno);
        Assert.AreEqual(Errno.EFAULT, Chains.Read(Array.Empty<byte>(), (ref ChainReader r) => IoctlCodec.DecodeResponse(ref r, driver, out status)).Result.Errno);
    }

    [TestMethod]
    public void Device_response_too_small_answers_enospc_in_the_header()
    {
        var device = new IoctlMessage();
        Assert.AreEqual(0, Chains.Read(Header(4).U32(1).PadTo(16 + 208).ToArray(), (ref ChainReader r) => IoctlCodec.DecodeRequest(ref r, device)).Result.Errno);
        var written = Chains.Write((ref ChainWriter w) => IoctlCodec.EncodeResponse(device, 0, true, ref w), capacity: 100);
        Assert.AreEqual(Errno.ENOSPC, written.Result.Errno);
        CollectionAssert.AreEqual(new LeBytes().U32(28).U32(0).ToArray(), written.Bytes);
    }

    [TestMethod]
    public void Driver_refuses_inconsistent_trailers_and_writes_nothing()
    {
        var driver = new IoctlMessage();
        driver.Reset(Ioctls.VIDIOC_QBUF.Descriptor, 1);
        ref var buffer = ref driver.PayloadAs<v4l2_buffer>();
        (buffer.type, buffer.memory, buffer.length) = (1, 2, 0x100);
        driver.SgEntryCount = 1;
        driver.SgEntries[0] = new virtio_media_sg_entry { start = 0, len = 0x80 }; // covers half
        var written = Chains.Write((ref ChainWriter w) => IoctlCodec.EncodeRequest(driver, ref w));
        Assert.AreEqual(Errno.EINVAL, written.Result.Errno);
        Assert.AreEqual(0, written.Bytes.Length);
    }

    private static LeBytes Clone(LeBytes bytes) => new LeBytes().Raw(bytes.ToArray());
}
