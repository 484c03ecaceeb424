using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using CsCheck;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Tests.Wire;

/// <summary>
/// Property: for every ioctl the specification carries, driver-encode -> device-decode -> device-encode (an echo
/// handler) -> driver-decode preserves every payload byte and every trailer, whatever the cuts of the chains.
/// Payloads are random bytes; only the fields that select trailers are constrained to values a valid request has
/// (buffer type and memory, plane and control counts, lengths the SG lists cover).
/// </summary>
[TestClass]
public sealed class PropertyRoundTripTests
{
    private const int IterationsPerIoctl = 120;
    private const uint Session = 9;

    /// <summary>One random request: payload, elements, SG lists, UUIDs, and the seed of the chain cuts.</summary>
    private sealed record Case(byte[] Payload, byte[] Elements, int ElementCount, virtio_media_sg_entry[] Sg, byte[] Uuids, byte[] DevicePayload, int CutSeed)
    {
        public override string ToString() =>
            $"payload {Convert.ToHexString(Payload)}, {ElementCount} elements {Convert.ToHexString(Elements)}, {Sg.Length} SG entries, {Uuids.Length / 16} UUIDs, cut seed {CutSeed}";
    }

    public static IEnumerable<object[]> CarriedIoctls =>
        Ioctls.All.Where(i => !Trailers.IsUnsupported(i.Number)).Select(i => new object[] { i.Name });

    [TestMethod]
    public void Every_carried_ioctl_is_in_the_property()
    {
        // The table is generated; the property below iterates it, so this only guards against an empty run.
        Assert.IsTrue(CarriedIoctls.Count() > 60, $"{CarriedIoctls.Count()} ioctls");
    }

    [TestMethod]
    [DynamicData(nameof(CarriedIoctls))]
    public void Round_trip_preserves_payload_and_trailers(string name)
    {
        var ioctl = Ioctls.All.Single(i => i.Name == name);
        var driver = new IoctlMessage();
        var device = new IoctlMessage();
        CaseFor(ioctl).Sample(c => RoundTrip(ioctl, c, driver, device), iter: IterationsPerIoctl, threads: 1);
    }

    private static void RoundTrip(IoctlDescriptor ioctl, Case c, IoctlMessage driver, IoctlMessage device)
    {
        var random = new Random(c.CutSeed);
        driver.Reset(ioctl, Session);
        if (ioctl.IsDeviceReadable)
        {
            c.Payload.CopyTo(driver.Payload);
            driver.ElementCount = c.ElementCount;
            c.Elements.CopyTo(driver.Elements);
            driver.SgEntryCount = c.Sg.Length;
            c.Sg.CopyTo(driver.SgEntries);
            driver.UuidCount = c.Uuids.Length / IoctlMessage.UuidSize;
            c.Uuids.CopyTo(driver.Uuids);
        }

        // The same bytes contiguous and cut at random.
        var whole = new byte[16 + c.Payload.Length + c.Elements.Length + c.Sg.Length * 16 + c.Uuids.Length + 64];
        var wholeWriter = new ChainWriter(new[] { whole.AsMemory() });
        var encoded = IoctlCodec.EncodeRequest(driver, ref wholeWriter);
        Assert.IsTrue(encoded.IsSuccess, $"{ioctl.Name}: driver encode {encoded}");
        var command = whole.AsSpan(0, (int)wholeWriter.Written).ToArray();
        var cut = WriteCut(command.Length, random, (ref ChainWriter w) => IoctlCodec.EncodeRequest(driver, ref w));
        CollectionAssert.AreEqual(command, cut, $"{ioctl.Name}: segmented encode differs");

        var reader = new ChainReader(Cut(command, random));
        var decoded = IoctlCodec.DecodeRequest(ref reader, device);
        Assert.IsTrue(decoded.IsSuccess, $"{ioctl.Name}: device decode {decoded}");
        Assert.AreEqual(0L, reader.Remaining, $"{ioctl.Name}: bytes left in the command");
        Assert.AreEqual(Session, device.SessionId);
        Assert.AreSame(ioctl, device.Ioctl);
        if (ioctl.IsDeviceReadable)
        {
            CollectionAssert.AreEqual(c.Payload, device.Payload.ToArray(), $"{ioctl.Name}: payload");
            CollectionAssert.AreEqual(c.Elements, device.Elements.ToArray(), $"{ioctl.Name}: elements");
            CollectionAssert.AreEqual(c.Sg, device.SgEntries.ToArray(), $"{ioctl.Name}: SG entries");
            CollectionAssert.AreEqual(c.Uuids, device.Uuids.ToArray(), $"{ioctl.Name}: UUIDs");
        }
        else
        {
            // _IOR: the handler fills the payload from nothing.
            c.DevicePayload.CopyTo(device.Payload);
        }

        var expectedPayload = ioctl.IsDeviceReadable ? c.Payload : c.DevicePayload;
        var responseBuffer = new byte[8 + expectedPayload.Length + c.Elements.Length + c.Uuids.Length + 64];
        var responseWriter = new ChainWriter(new[] { responseBuffer.AsMemory() });
        var answered = IoctlCodec.EncodeResponse(device, 0, true, ref responseWriter);
        Assert.IsTrue(answered.IsSuccess, $"{ioctl.Name}: device encode {answered}");
        var response = responseBuffer.AsSpan(0, (int)responseWriter.Written).ToArray();
        cut = WriteCut(response.Length, random, (ref ChainWriter w) => IoctlCodec.EncodeResponse(device, 0, true, ref w));
        CollectionAssert.AreEqual(response, cut, $"{ioctl.Name}: segmented response differs");

        reader = new ChainReader(Cut(response, random));
        var back = IoctlCodec.DecodeResponse(ref reader, driver, out var status);
        Assert.IsTrue(back.IsSuccess, $"{ioctl.Name}: driver decode {back}");
        Assert.AreEqual(0, status);
        Assert.AreEqual(0L, reader.Remaining, $"{ioctl.Name}: bytes left in the response");
        if (ioctl.IsDeviceWritable || ioctl.IsDeviceReadable)
        {
            CollectionAssert.AreEqual(ioctl.IsDeviceWritable ? expectedPayload : c.Payload, driver.Payload.ToArray(), $"{ioctl.Name}: payload back");
        }
        if (ioctl.IsDeviceReadable)
        {
            CollectionAssert.AreEqual(c.Elements, driver.Elements.ToArray(), $"{ioctl.Name}: elements back");
            CollectionAssert.AreEqual(c.Uuids, driver.Uuids.ToArray(), $"{ioctl.Name}: UUIDs back");
            CollectionAssert.AreEqual(c.Sg, driver.SgEntries.ToArray(), $"{ioctl.Name}: the driver's SG entries");
        }
    }

    /// <summary>The random requests of one ioctl, trailer-selecting fields constrained to valid values.</summary>
    private static Gen<Case> CaseFor(IoctlDescriptor ioctl)
    {
        var rule = Trailers.Find(ioctl.PayloadType);
        var size = ioctl.PayloadSize;
        var plain = Gen.Byte.Array[size];
        if (rule == Trailers.v4l2_buffer)
        {
            return from payload in plain
                   from type in Gen.Int[0, 4].Select(i => new[] { 1u, 2u, 9u, 10u, 8u }[i])
                   from memory in Gen.UInt[1, 4]
                   from planes in Gen.Int[1, 8]
                   from singleLength in Gen.OneOf(Gen.UInt, Gen.UInt[0, 64])
                   from planeBytes in Gen.Byte.Array[8 * 64]
                   from planeLengths in Gen.OneOf(Gen.UInt, Gen.UInt[0, 64]).Array[8]
                   from uuids in Gen.Byte.Array[8 * 16]
                   from device in plain
                   from seed in Gen.Int
                   select Buffer(payload, type, memory, planes, singleLength, planeBytes, planeLengths, uuids, device, seed);
        }
        if (rule == Trailers.v4l2_ext_controls)
        {
            return from payload in plain
                   from count in Gen.Int[0, 16]
                   from controls in Gen.Byte.Array[16 * 20]
                   from sizes in Gen.OneOf(Gen.Const(0u), Gen.UInt[1, 64], Gen.UInt[1, 1u << 24], Gen.UInt).Array[16]
                   from device in plain
                   from seed in Gen.Int
                   select ExtControls(payload, count, controls, sizes, device, seed);
        }
        if (rule == Trailers.v4l2_exportbuffer)
        {
            return from payload in plain
                   from uuid in Gen.Byte.Array[16]
                   from device in plain
                   from seed in Gen.Int
                   select new Case(payload, Array.Empty<byte>(), 0, Array.Empty<virtio_media_sg_entry>(), uuid, device, seed);
        }
        Assert.IsNull(rule, $"{ioctl.Name}: a trailer rule this property does not know");
        return from payload in plain
               from device in plain
               from seed in Gen.Int
               select new Case(payload, Array.Empty<byte>(), 0, Array.Empty<virtio_media_sg_entry>(), Array.Empty<byte>(), device, seed);
    }

    private static Case Buffer(byte[] payload, uint type, uint memory, int planes, uint singleLength, byte[] planeBytes, uint[] planeLengths, byte[] uuids, byte[] device, int seed)
    {
        // v4l2_buffer: type @4, memory @60, length @72 (v4l2_plane: length @4).
        var multiPlanar = type is 9 or 10;
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(4), type);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(60), memory);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(72), multiPlanar ? (uint)planes : singleLength);
        var random = new Random(seed);
        var sg = new List<virtio_media_sg_entry>();
        byte[] elements = Array.Empty<byte>();
        var count = 0;
        if (multiPlanar)
        {
            count = planes;
            elements = planeBytes.AsSpan(0, planes * 64).ToArray();
            for (var i = 0; i < planes; i++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(elements.AsSpan(i * 64 + 4), planeLengths[i]);
                if (memory == 2)
                {
                    Cover(planeLengths[i], random, sg);
                }
            }
        }
        else if (memory == 2)
        {
            Cover(singleLength, random, sg);
        }
        var uuidCount = memory == 4 ? (multiPlanar ? planes : 1) : 0;
        return new Case(payload, elements, count, sg.ToArray(), uuids.AsSpan(0, uuidCount * 16).ToArray(), device, seed);
    }

    private static Case ExtControls(byte[] payload, int count, byte[] controls, uint[] sizes, byte[] device, int seed)
    {
        // v4l2_ext_controls: count @4; v4l2_ext_control (packed, 20 bytes): size @4.
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(4), (uint)count);
        var random = new Random(seed);
        var elements = controls.AsSpan(0, count * 20).ToArray();
        var sg = new List<virtio_media_sg_entry>();
        for (var i = 0; i < count; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(elements.AsSpan(i * 20 + 4), sizes[i]);
            Cover(sizes[i], random, sg);
        }
        return new Case(payload, elements, count, sg.ToArray(), Array.Empty<byte>(), device, seed);
    }

    /// <summary>An SG list of 1..4 entries at random non-wrapping addresses covering exactly <paramref name="length"/>.</summary>
    private static void Cover(uint length, Random random, List<virtio_media_sg_entry> sg)
    {
        var left = length;
        while (left > 0)
        {
            var len = random.Next(3) == 0 ? left : (uint)random.NextInt64(1, (long)left + 1);
            sg.Add(new virtio_media_sg_entry { start = (ulong)random.NextInt64(0, long.MaxValue), len = len });
            left -= len;
        }
    }

    /// <summary>Segment lengths summing to <paramref name="total"/>: empty, 1-byte and larger ones mixed.</summary>
    private static List<int> Lengths(int total, Random random)
    {
        var lengths = new List<int>();
        var left = total;
        while (left > 0)
        {
            var length = random.Next(5) switch
            {
                0 => 0,
                1 => 1,
                2 => Math.Min(left, random.Next(2, 24)),
                3 => left,
                _ => Math.Min(left, random.Next(1, 200)),
            };
            lengths.Add(length);
            left -= length;
        }
        if (random.Next(2) == 0)
        {
            lengths.Add(0);
        }
        return lengths;
    }

    private static ReadOnlyMemory<byte>[] Cut(byte[] data, Random random)
    {
        var segments = new List<ReadOnlyMemory<byte>>();
        var start = 0;
        foreach (var length in Lengths(data.Length, random))
        {
            segments.Add(data.AsMemory(start, length));
            start += length;
        }
        return segments.ToArray();
    }

    /// <summary>Runs a writer over <paramref name="total"/> bytes cut at random and returns what it wrote.</summary>
    private static byte[] WriteCut(int total, Random random, ChainWrite write)
    {
        var backing = new byte[total];
        var segments = new List<Memory<byte>>();
        var start = 0;
        foreach (var length in Lengths(total, random))
        {
            segments.Add(backing.AsMemory(start, length));
            start += length;
        }
        var writer = new ChainWriter(segments.ToArray());
        var result = write(ref writer);
        Assert.IsTrue(result.IsSuccess, result.ToString());
        Assert.AreEqual((long)total, writer.Written);
        return backing;
    }
}
