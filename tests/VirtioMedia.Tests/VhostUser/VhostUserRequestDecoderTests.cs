using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>The back-end's message framing as a pure function: what QEMU 11.1.3 sent decodes as valid, and
/// random or mutated messages yield a status, never an exception or an allocation.</summary>
[TestClass]
public sealed class VhostUserRequestDecoderTests
{
    private static List<(byte[] Bytes, int Fds)> RecordedRequests() =>
        new[] { "qemu-11.1.3-shmem", "qemu-11.1.3-no-shmem", "qemu-11.1.3-shmem-sigterm" }
            .SelectMany(name => QemuRecording.Load(name).Messages)
            .Where(m => m.IsFrontendRequest)
            .Select(m => (RawFrontend.Message(m.Request, m.Flags, m.Payload), m.FileDescriptors))
            .ToList();

    [TestMethod]
    public void Every_request_QEMU_sent_decodes_as_valid()
    {
        var requests = RecordedRequests();
        Assert.IsTrue(requests.Count > 50, $"{requests.Count} recorded requests");
        foreach (var (bytes, fds) in requests)
        {
            var decoded = VhostUserRequestDecoder.Decode(bytes, fds);
            Assert.AreEqual(VhostUserDecodeStatus.Valid, decoded.Status, $"request {decoded.Request} of {bytes.Length} bytes with {fds} descriptors");
            Assert.AreEqual((uint)bytes.Length - 12, decoded.PayloadLength);
        }
    }

    [TestMethod]
    public void Shapes_the_specification_rules_out_are_refused()
    {
        // SET_FEATURES (2) takes a u64; SET_VRING_KICK (12) one descriptor unless bit 8 says none;
        // SET_MEM_TABLE (5) one descriptor per region; a reply flag (0x4) never comes from the front-end.
        Assert.AreEqual(VhostUserDecodeStatus.BadPayloadSize, VhostUserRequestDecoder.Decode(RawFrontend.Message(2, 1, new byte[4]), 0).Status);
        Assert.AreEqual(VhostUserDecodeStatus.BadDescriptorCount, VhostUserRequestDecoder.Decode(RawFrontend.Message(12, 1, RawFrontend.U64(0)), 0).Status);
        Assert.AreEqual(VhostUserDecodeStatus.Valid, VhostUserRequestDecoder.Decode(RawFrontend.Message(12, 1, RawFrontend.U64(0x100)), 0).Status);
        Assert.AreEqual(VhostUserDecodeStatus.BadDescriptorCount, VhostUserRequestDecoder.Decode(RawFrontend.Message(5, 1, VhostUserBackendTests.MemoryTable(0, 4096, 0, 0)), 2).Status);
        Assert.AreEqual(VhostUserDecodeStatus.FlaggedAsReply, VhostUserRequestDecoder.Decode(RawFrontend.Message(1, 1 | 4, []), 0).Status);
        Assert.AreEqual(VhostUserDecodeStatus.BadVersion, VhostUserRequestDecoder.Decode(RawFrontend.Message(1, 2, []), 0).Status);
        Assert.AreEqual(VhostUserDecodeStatus.PayloadTooLarge, VhostUserRequestDecoder.Decode(RawFrontend.Message(1, 1, [], size: uint.MaxValue), 0).Status);
        Assert.AreEqual(VhostUserDecodeStatus.Truncated, VhostUserRequestDecoder.Decode(RawFrontend.Message(2, 1, new byte[8], size: 16), 0).Status);
        Assert.AreEqual(VhostUserDecodeStatus.Truncated, VhostUserRequestDecoder.Decode(new byte[11], 0).Status);
        Assert.AreEqual(VhostUserDecodeStatus.UnknownRequest, VhostUserRequestDecoder.Decode(RawFrontend.Message(99, 1, []), 0).Status);
    }

    [TestMethod]
    public void Five_thousand_random_and_mutated_messages_yield_a_status_and_allocate_nothing()
    {
        var seeds = RecordedRequests();
        var random = new Random(20261201);
        var statuses = new Dictionary<VhostUserDecodeStatus, int>();
        var inputs = new List<(byte[] Bytes, int Fds)>(5000);
        for (var i = 0; i < 5000; i++)
        {
            byte[] bytes;
            int fds;
            if (i % 5 == 0)
            {
                bytes = new byte[random.Next(0, 64)];
                random.NextBytes(bytes);
                fds = random.Next(-2, 12);
            }
            else
            {
                var (seed, seedFds) = seeds[random.Next(seeds.Count)];
                bytes = Mutate(seed, random);
                fds = random.Next(4) == 0 ? random.Next(-2, 300) : seedFds;
            }
            inputs.Add((bytes, fds));
        }
        var results = new VhostUserDecodedRequest[inputs.Count];
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < inputs.Count; i++)
        {
            results[i] = VhostUserRequestDecoder.Decode(inputs[i].Bytes, inputs[i].Fds);
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.AreEqual(0L, allocated, "decoding allocates nothing, whatever the sizes and counts claim");
        foreach (var result in results)
        {
            statuses[result.Status] = statuses.GetValueOrDefault(result.Status) + 1;
            Assert.IsTrue(Enum.IsDefined(result.Status));
        }
        // The mutations reach more than one rule: valid ones survive, and several refusals occur.
        Assert.IsTrue(statuses.GetValueOrDefault(VhostUserDecodeStatus.Valid) > 0, string.Join(", ", statuses));
        Assert.IsTrue(statuses.Count >= 6, string.Join(", ", statuses));
    }

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var bytes = seed.ToArray();
        switch (random.Next(5))
        {
            case 0 when bytes.Length > 0:
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return bytes;
            case 1:
                return bytes[..random.Next(bytes.Length + 1)];
            case 2 when bytes.Length >= 12:
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)random.Next(-1, 5000));
                return bytes;
            case 3 when bytes.Length >= 20:
                // A peer's count (regions, config size) set to anything.
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12 + random.Next(2) * 4), (uint)random.NextInt64(0, uint.MaxValue + 1L));
                return bytes;
            default:
                var longer = new byte[bytes.Length + random.Next(1, 40)];
                bytes.CopyTo(longer, 0);
                random.NextBytes(longer.AsSpan(bytes.Length));
                return longer;
        }
    }
}
