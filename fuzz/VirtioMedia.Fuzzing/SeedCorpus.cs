using System;
using System.Collections.Generic;
using System.IO;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Fuzzing;

/// <summary>
/// Writes the seed corpora: each seed wraps golden vectors of the wire tests (tests/VirtioMedia.Tests/Wire/
/// CommandAndEventGoldenTests.cs and IoctlGoldenTests.cs, bytes written out from the specification) in the input
/// layout of its target. Session ids in commands are 1, the first id the device endpoint hands out; the driver
/// target's device answers OPEN with session 7, as the golden OPEN response does.
/// </summary>
internal static class SeedCorpus
{
    public static void Write(string root)
    {
        WriteAll(Path.Combine(root, Targets.DeviceCommands), DeviceSeeds());
        WriteAll(Path.Combine(root, Targets.DriverCompletions), DriverSeeds());
        WriteAll(Path.Combine(root, Targets.VhostUserMessages), VhostUserSeeds(Path.Combine(root, "..", "..", "tests", "VirtioMedia.Tests", "VhostUser", "Recordings")));
    }

    /// <summary>The front-end's messages of the recorded QEMU sessions (tests/VirtioMedia.Tests/VhostUser/
    /// Recordings/*.trace): one seed per distinct request, size and descriptor count, and the opening of each
    /// session (its first 40 messages) as one sequence.</summary>
    private static IEnumerable<(string, byte[])> VhostUserSeeds(string recordings)
    {
        var seen = new HashSet<string>();
        foreach (var trace in Directory.GetFiles(recordings, "*.trace"))
        {
            var opening = new List<byte>();
            var count = 0;
            foreach (var line in File.ReadLines(trace))
            {
                // main F>B <request> <NAME> flags=0x<flags> size=<size> fds=<fds> <hex or ->
                var fields = line.Split(' ');
                if (fields.Length != 8 || fields[0] != "main" || fields[1] != "F>B")
                {
                    continue;
                }
                var request = uint.Parse(fields[2]);
                var flags = Convert.ToUInt32(fields[4]["flags=0x".Length..], 16);
                var fds = byte.Parse(fields[6]["fds=".Length..]);
                var payload = fields[7] == "-" ? [] : Convert.FromHexString(fields[7]);
                var record = new Le().U8(fds).U16((ushort)(12 + payload.Length)).U32(request).U32(flags).U32((uint)payload.Length).Raw(payload).Bytes();
                if (count++ < 40)
                {
                    opening.AddRange(record);
                }
                var name = $"{fields[3].ToLowerInvariant()}-{payload.Length}-{fds}";
                if (seen.Add(name))
                {
                    yield return (name, record);
                }
            }
            yield return ("opening-" + Path.GetFileNameWithoutExtension(trace), opening.ToArray());
        }
    }

    private static void WriteAll(string folder, IEnumerable<(string Name, byte[] Bytes)> seeds)
    {
        Directory.CreateDirectory(folder);
        foreach (var (name, bytes) in seeds)
        {
            File.WriteAllBytes(Path.Combine(folder, name), bytes);
        }
    }

    // Golden commands (CommandAndEventGoldenTests, IoctlGoldenTests).
    private static byte[] Open() => new Le().U32(1).U32(0).Bytes();

    private static byte[] Close(uint session) => new Le().U32(2).U32(0).U32(session).U32(0).Bytes();

    private static byte[] Mmap(uint session) => new Le().U32(4).U32(0).U32(session).U32(1).U32(0x8000).Bytes();

    private static byte[] Munmap() => new Le().U32(5).U32(0).U64(0x1_0000_0000).Bytes();

    private static Le Ioctl(uint session, IoctlDescriptor ioctl) => new Le().U32(3).U32(0).U32(session).U32((uint)ioctl.Number);

    private static byte[] GFmt(uint session) => Ioctl(session, Ioctls.VIDIOC_G_FMT.Descriptor).U32(1).PadTo(16 + 208).Bytes();

    private static byte[] SFmt(uint session) => Ioctl(session, Ioctls.VIDIOC_S_FMT.Descriptor).U32(1).U32(0).U32(640).U32(480).U32(0x56595559).PadTo(16 + 208).Bytes();

    private static byte[] Qbuf(uint session) => Ioctl(session, Ioctls.VIDIOC_QBUF.Descriptor).U32(0).U32(1).PadTo(16 + 60).U32(1).PadTo(16 + 88).Bytes();

    private static byte[] Streamon(uint session) => Ioctl(session, Ioctls.VIDIOC_STREAMON.Descriptor).U32(1).Bytes();

    private static IEnumerable<(string, byte[])> DeviceSeeds()
    {
        yield return ("open", Device(0, [[Open()]]));
        yield return ("open-g_fmt", Device(0, [[Open()], [GFmt(1)]]));
        yield return ("open-s_fmt-split", Device(0, [[Open()], Split(SFmt(1), 3)]));
        yield return ("open-mmap-munmap", Device(0, [[Open()], [Mmap(1)], [Munmap()]]));
        yield return ("open-qbuf-streamon-close", Device(0, [[Open()], [Qbuf(1)], [Streamon(1)], [Close(1)]]));
        yield return ("event-index-open-g_fmt", Device(1, [[Open()], [GFmt(1)]]));
        yield return ("indirect-open-g_fmt", Device(3, [[Open()], [GFmt(1)]], indirect: true));
    }

    private static byte[][] Split(byte[] command, int pieces)
    {
        var result = new byte[pieces][];
        var at = 0;
        for (var i = 0; i < pieces; i++)
        {
            var size = command.Length / pieces + (i < command.Length % pieces ? 1 : 0);
            result[i] = command[at..(at + size)];
            at += size;
        }
        return result;
    }

    /// <summary>A device-commands input: each command (its readable pieces) gets a chain ending in a 512-byte writable buffer.</summary>
    private static byte[] Device(byte features, byte[][][] commands, bool indirect = false)
    {
        const int Stride = 0x400;
        var descriptors = new VirtqDescriptor[DeviceCommandQueueTarget.QueueSize];
        var available = new ushort[DeviceCommandQueueTarget.QueueSize];
        var buffers = new byte[commands.Length * Stride + (indirect ? Stride * commands.Length : 0)];
        var next = 0;
        for (var c = 0; c < commands.Length; c++)
        {
            var at = c * Stride;
            var chain = new List<VirtqDescriptor>();
            foreach (var piece in commands[c])
            {
                piece.CopyTo(buffers, at);
                chain.Add(new VirtqDescriptor { addr = DeviceCommandQueueTarget.BufferBase + (ulong)at, len = (uint)piece.Length });
                at += piece.Length;
            }
            chain.Add(new VirtqDescriptor { addr = DeviceCommandQueueTarget.BufferBase + (ulong)(c * Stride + 0x200), len = 0x200, flags = VirtqDescriptor.VIRTQ_DESC_F_WRITE });
            if (indirect)
            {
                // The chain lives in an indirect table after the command buffers; the ring holds one descriptor naming it.
                var tableAt = commands.Length * Stride + c * Stride;
                for (var i = 0; i < chain.Count; i++)
                {
                    var descriptor = chain[i];
                    if (i + 1 < chain.Count)
                    {
                        descriptor.flags |= VirtqDescriptor.VIRTQ_DESC_F_NEXT;
                        descriptor.next = (ushort)(i + 1);
                    }
                    Le.Descriptor(descriptor).CopyTo(buffers, tableAt + 16 * i);
                }
                available[c] = (ushort)next;
                descriptors[next++] = new VirtqDescriptor { addr = DeviceCommandQueueTarget.BufferBase + (ulong)tableAt, len = (uint)(16 * chain.Count), flags = VirtqDescriptor.VIRTQ_DESC_F_INDIRECT };
                continue;
            }
            available[c] = (ushort)next;
            for (var i = 0; i < chain.Count; i++)
            {
                var descriptor = chain[i];
                if (i + 1 < chain.Count)
                {
                    descriptor.flags |= VirtqDescriptor.VIRTQ_DESC_F_NEXT;
                    descriptor.next = (ushort)(next + 1);
                }
                descriptors[next++] = descriptor;
            }
        }
        var seed = new Le().U8(features).U16((ushort)commands.Length);
        foreach (var descriptor in descriptors)
        {
            seed.Raw(Le.Descriptor(descriptor));
        }
        foreach (var head in available)
        {
            seed.U16(head);
        }
        return seed.Raw(buffers).Bytes();
    }

    // Golden answers and events (CommandAndEventGoldenTests, IoctlGoldenTests).
    private static byte[] OpenResponse() => new Le().U32(0).U32(0).U32(7).U32(0).Bytes();

    private static byte[] GFmtResponse() => new Le().U32(0).U32(0).U32(1).U32(0).U32(640).U32(480).U32(0x56595559).PadTo(8 + 208).Bytes();

    private static byte[] DqbufEvent() => new Le().U32(1).U32(7).U32(2).U32(9).U32(0).U32(0).U32(0).U32(0).Zeros(32).U32(77).U32(2).U64(0).U32(2).U32(0).U32(0).U32(0)
        .U32(100).U32(4096).U64(0).U32(0).Zeros(44).U32(50).U32(2048).U64(0).U32(0).Zeros(44).Zeros(6 * 64).Bytes();

    private static byte[] EventEvent() => new Le().U32(2).U32(7).U32(5).U32(0).Zeros(64).U32(1).U32(42).Zeros(16).U32(0x00980900).Zeros(32).Zeros(4).Bytes();

    private static byte[] ErrorEvent() => new Le().U32(3).U32(7).U32(5).U32(0).Bytes();

    private static IEnumerable<(string, byte[])> DriverSeeds()
    {
        yield return ("open", Driver(0, (0, 0, 0, 0, OpenResponse())));
        yield return ("open-g_fmt", Driver(0, (0, 0, 0, 0, OpenResponse()), (2, 0, 0, 0, GFmtResponse())));
        yield return ("open-dqbuf", Driver(0, (0, 0, 0, 0, OpenResponse()), (1, 0, 0, 0, DqbufEvent())));
        yield return ("open-event-error", Driver(1, (0, 0, 0, 0, OpenResponse()), (1, 0, 0, 0, EventEvent()), (1, 0, 0, 0, ErrorEvent())));
        yield return ("forged-id", Driver(0, (0, 1, 5, 0, OpenResponse())));
        yield return ("forged-length", Driver(0, (0, 0, 0, 0, OpenResponse()), (1, 2, 0, 4096, EventEvent())));
    }

    private static byte[] Driver(byte features, params (byte Op, byte Forge, uint Id, uint Length, byte[] Bytes)[] operations)
    {
        var seed = new Le().U8(features);
        foreach (var (op, forge, id, length, bytes) in operations)
        {
            seed.U8(op).U8(forge).U32(id).U32(length).U16((ushort)bytes.Length).Raw(bytes);
        }
        return seed.Bytes();
    }

    /// <summary>Little-endian bytes, as the golden tests write them.</summary>
    private sealed class Le
    {
        private readonly List<byte> _bytes = new();

        public Le U8(byte value)
        {
            _bytes.Add(value);
            return this;
        }

        public Le U16(ushort value) => U8((byte)value).U8((byte)(value >> 8));

        public Le U32(uint value) => U16((ushort)value).U16((ushort)(value >> 16));

        public Le U64(ulong value) => U32((uint)value).U32((uint)(value >> 32));

        public Le Zeros(int count)
        {
            for (var i = 0; i < count; i++)
            {
                _bytes.Add(0);
            }
            return this;
        }

        public Le PadTo(int length) => Zeros(Math.Max(0, length - _bytes.Count));

        public Le Raw(byte[] bytes)
        {
            _bytes.AddRange(bytes);
            return this;
        }

        public byte[] Bytes() => _bytes.ToArray();

        public static byte[] Descriptor(VirtqDescriptor descriptor) =>
            new Le().U64(descriptor.addr).U32(descriptor.len).U16(descriptor.flags).U16(descriptor.next).Bytes();
    }
}
