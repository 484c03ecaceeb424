using System;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Tests.Wire;

/// <summary>Commands, responses, events and the config space against bytes written out from the spec text.</summary>
[TestClass]
public sealed class CommandAndEventGoldenTests
{
    [TestMethod]
    public void Open_command_and_response()
    {
        // struct virtio_media_cmd_open { hdr { le32 cmd = VIRTIO_MEDIA_CMD_OPEN (1); le32 __reserved; } }
        var command = new LeBytes().U32(1).U32(0).ToArray();
        CollectionAssert.AreEqual(command, Chains.Write((ref ChainWriter w) => CommandCodec.EncodeOpen(ref w)).Bytes);

        virtio_media_cmd_open decoded = default;
        var read = Chains.Read(command, (ref ChainReader r) => CommandCodec.DecodeCommand(ref r, 1, out decoded));
        Assert.IsTrue(read.Result.IsSuccess);

        // struct virtio_media_resp_open { hdr { le32 status = 0; le32 __reserved; } le32 session_id = 7; le32 __reserved; }
        var response = new LeBytes().U32(0).U32(0).U32(7).U32(0).ToArray();
        var encoded = Chains.Write((ref ChainWriter w) => CommandCodec.EncodeResponse(ref w, new virtio_media_resp_open { session_id = 7 }));
        CollectionAssert.AreEqual(response, encoded.Bytes);
        virtio_media_resp_open open = default;
        var status = -1;
        Assert.IsTrue(Chains.Read(response, (ref ChainReader r) => CommandCodec.DecodeResponse(ref r, out open, out status), new Random(1)).Result.IsSuccess);
        Assert.AreEqual(0, status);
        Assert.AreEqual(7u, open.session_id);
    }

    [TestMethod]
    public void Open_error_response_may_stop_after_the_header()
    {
        // status = ENOMEM (12), nothing after the header
        var response = new LeBytes().U32(12).U32(0).ToArray();
        var status = 0;
        var read = Chains.Read(response, (ref ChainReader r) => CommandCodec.DecodeResponse(ref r, out virtio_media_resp_open _, out status));
        Assert.IsTrue(read.Result.IsSuccess);
        Assert.AreEqual(12, status);
    }

    [TestMethod]
    public void Close_command()
    {
        // struct virtio_media_cmd_close { hdr { cmd = 2; reserved } le32 session_id = 0x11223344; le32 __reserved; }
        var command = new LeBytes().U32(2).U32(0).U32(0x11223344).U32(0).ToArray();
        CollectionAssert.AreEqual(command, Chains.Write((ref ChainWriter w) => CommandCodec.EncodeClose(ref w, 0x11223344)).Bytes);
        virtio_media_cmd_close decoded = default;
        Assert.IsTrue(Chains.Read(command, (ref ChainReader r) => CommandCodec.DecodeCommand(ref r, 2, out decoded), new Random(2)).Result.IsSuccess);
        Assert.AreEqual(0x11223344u, decoded.session_id);
        // A CLOSE is not an OPEN.
        Assert.AreEqual(Errno.EINVAL, Chains.Read(command, (ref ChainReader r) => CommandCodec.DecodeCommand(ref r, 1, out virtio_media_cmd_open _)).Result.Errno);
    }

    [TestMethod]
    public void Mmap_command_and_response()
    {
        // struct virtio_media_cmd_mmap { hdr { cmd = 4; reserved } le32 session_id = 3; le32 flags = VIRTIO_MEDIA_MMAP_FLAG_RW (1); le32 offset = 0x8000; } = 20 bytes
        var command = new LeBytes().U32(4).U32(0).U32(3).U32(1).U32(0x8000).ToArray();
        Assert.AreEqual(20, command.Length);
        CollectionAssert.AreEqual(command, Chains.Write((ref ChainWriter w) => CommandCodec.EncodeMmap(ref w, 3, 1, 0x8000)).Bytes);
        virtio_media_cmd_mmap decoded = default;
        Assert.IsTrue(Chains.Read(command, (ref ChainReader r) => CommandCodec.DecodeCommand(ref r, 4, out decoded), new Random(3)).Result.IsSuccess);
        Assert.AreEqual((3u, 1u, 0x8000u), (decoded.session_id, decoded.flags, decoded.offset));

        // struct virtio_media_resp_mmap { hdr { status 0; reserved } le64 driver_addr = 0x1_0000_0000; le64 len = 0x96000; }
        var response = new LeBytes().U32(0).U32(0).U64(0x1_0000_0000).U64(0x96000).ToArray();
        var encoded = Chains.Write((ref ChainWriter w) => CommandCodec.EncodeResponse(ref w, new virtio_media_resp_mmap { driver_addr = 0x1_0000_0000, len = 0x96000 }), random: new Random(4));
        CollectionAssert.AreEqual(response, encoded.Bytes);
    }

    [TestMethod]
    public void Munmap_command_and_response()
    {
        // struct virtio_media_cmd_munmap { hdr { cmd = 5; reserved } le64 driver_addr = 0x1_0000_0000; }
        var command = new LeBytes().U32(5).U32(0).U64(0x1_0000_0000).ToArray();
        CollectionAssert.AreEqual(command, Chains.Write((ref ChainWriter w) => CommandCodec.EncodeMunmap(ref w, 0x1_0000_0000)).Bytes);
        // struct virtio_media_resp_munmap { hdr { status = 0; reserved } }
        var response = new LeBytes().U32(0).U32(0).ToArray();
        CollectionAssert.AreEqual(response, Chains.Write((ref ChainWriter w) => CommandCodec.EncodeErrorResponse(ref w, 0)).Bytes);
    }

    [TestMethod]
    public void Dqbuf_event_is_608_bytes_with_pointers_nulled()
    {
        var buffer = new v4l2_buffer { index = 2, type = 9, bytesused = 0, sequence = 77, memory = 2, length = 2 };
        buffer.m.planes = 0xFFFF_8000_1234_0000; // a device address that must not leak
        var planes = new v4l2_plane[2];
        planes[0].bytesused = 100;
        planes[0].length = 4096;
        planes[0].m.userptr = 0x7000_0000;
        planes[1].bytesused = 50;
        planes[1].length = 2048;
        planes[1].m.userptr = 0x7100_0000;

        // hdr { le32 event = VIRTIO_MEDIA_EVT_DQBUF (1); le32 session_id = 9 }, then struct v4l2_buffer (88 bytes),
        // then 8 struct v4l2_plane (64 bytes each).
        var expected = new LeBytes().U32(1).U32(9)
            .U32(2)             // buffer.index      @0
            .U32(9)             // buffer.type       @4  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
            .U32(0)             // bytesused         @8
            .U32(0)             // flags             @12
            .U32(0)             // field             @16
            .U32(0)             // padding           @20
            .Zeros(16)          // timestamp         @24
            .Zeros(16)          // timecode          @40
            .U32(77)            // sequence          @56
            .U32(2)             // memory            @60 USERPTR
            .U64(0)             // m.planes          @64 nulled
            .U32(2)             // length            @72 planes
            .U32(0)             // reserved2         @76
            .U32(0)             // request_fd        @80
            .U32(0)             // padding to 88
            .U32(100).U32(4096).U64(0).U32(0).Zeros(44)  // plane 0: bytesused, length, m.userptr nulled, data_offset, reserved[11]
            .U32(50).U32(2048).U64(0).U32(0).Zeros(44)   // plane 1
            .Zeros(6 * 64)                               // planes 2..7
            .ToArray();
        Assert.AreEqual(608, expected.Length);
        var encoded = Chains.Write((ref ChainWriter w) => EventCodec.EncodeDqbuf(ref w, 9, buffer, planes), random: new Random(5));
        Assert.IsTrue(encoded.Result.IsSuccess);
        CollectionAssert.AreEqual(expected, encoded.Bytes);

        virtio_media_event_dqbuf decoded = default;
        Assert.IsTrue(Chains.Read(expected, (ref ChainReader r) => EventCodec.DecodeDqbuf(ref r, out decoded), new Random(6)).Result.IsSuccess);
        Assert.AreEqual((9u, 2u, 77u, 2048u), (decoded.hdr.session_id, decoded.buffer.index, decoded.buffer.sequence, decoded.planes[1].length));
    }

    [TestMethod]
    public void Dqbuf_event_claiming_nine_planes_is_refused()
    {
        var bytes = new LeBytes().U32(1).U32(9).U32(0).U32(10).PadTo(8 + 72).U32(9).PadTo(608).ToArray();
        var read = Chains.Read(bytes, (ref ChainReader r) => EventCodec.DecodeDqbuf(ref r, out _));
        Assert.AreEqual(Errno.EINVAL, read.Result.Errno);
        Assert.AreEqual(608L, read.Remaining, "a refused event consumes nothing");
    }

    [TestMethod]
    public void Event_event_is_144_bytes()
    {
        var payload = new v4l2_event { type = 5, pending = 1, sequence = 42, id = 0x00980900 };
        // hdr { event = VIRTIO_MEDIA_EVT_EVENT (2); session_id = 4 }, struct v4l2_event (136 bytes):
        var expected = new LeBytes().U32(2).U32(4)
            .U32(5)          // type             @0  V4L2_EVENT_SOURCE_CHANGE
            .U32(0)          // padding          @4
            .Zeros(64)       // u                @8
            .U32(1)          // pending          @72
            .U32(42)         // sequence         @76
            .Zeros(16)       // timestamp        @80
            .U32(0x00980900) // id               @96
            .Zeros(32)       // reserved[8]      @100
            .Zeros(4)        // padding to 136
            .ToArray();
        Assert.AreEqual(144, expected.Length);
        CollectionAssert.AreEqual(expected, Chains.Write((ref ChainWriter w) => EventCodec.EncodeEvent(ref w, 4, payload)).Bytes);
        virtio_media_event_event decoded = default;
        Assert.IsTrue(Chains.Read(expected, (ref ChainReader r) => EventCodec.DecodeEvent(ref r, out decoded), new Random(7)).Result.IsSuccess);
        Assert.AreEqual(42u, decoded.@event.sequence);
        // Too short, or the wrong type: refused.
        Assert.AreEqual(Errno.EFAULT, Chains.Read(expected[..143], (ref ChainReader r) => EventCodec.DecodeEvent(ref r, out _)).Result.Errno);
        Assert.AreEqual(Errno.EINVAL, Chains.Read(expected, (ref ChainReader r) => EventCodec.DecodeError(ref r, out _)).Result.Errno);
    }

    [TestMethod]
    public void Error_event()
    {
        // hdr { event = VIRTIO_MEDIA_EVT_ERROR (0); session_id = 6 } le32 errno = EIO (5); le32 __reserved
        var expected = new LeBytes().U32(0).U32(6).U32(5).U32(0).ToArray();
        CollectionAssert.AreEqual(expected, Chains.Write((ref ChainWriter w) => EventCodec.EncodeError(ref w, 6, 5)).Bytes);
    }

    [TestMethod]
    public void Config_space()
    {
        // le32 device_caps = V4L2_CAP_VIDEO_M2M_MPLANE|V4L2_CAP_STREAMING (0x04004000); le32 device_type = 0; le8 card[32] = "vcodec"
        var expected = new LeBytes().U32(0x04004000).U32(0).Raw("vcodec"u8.ToArray()).PadTo(40).ToArray();
        var config = ConfigSpace.Create(0x04004000, 0, "vcodec");
        var bytes = new byte[40];
        Assert.IsTrue(ConfigSpace.TryEncode(config, bytes));
        CollectionAssert.AreEqual(expected, bytes);
        Assert.IsTrue(ConfigSpace.TryDecode(expected, out var decoded));
        Assert.AreEqual("vcodec", ConfigSpace.Card(decoded));
        // A configuration read from a device may use all 32 bytes with no NUL.
        var full = new byte[40];
        full.AsSpan(8, 32).Fill((byte)'x');
        Assert.IsTrue(ConfigSpace.TryDecode(full, out var unterminated));
        Assert.AreEqual(new string('x', 32), ConfigSpace.Card(unterminated));
    }

    // The card Create writes always ends in a NUL within its 32 bytes (the Linux driver copies them into QUERYCAP
    // as they are, and v4l2-compliance's check_string fails a card without one), and is cut at a character boundary.
    [TestMethod]
    [DataRow(31, "x", 31, DisplayName = "31 ASCII bytes fit")]
    [DataRow(32, "x", 31, DisplayName = "32 ASCII bytes: the last one dropped")]
    [DataRow(40, "x", 31, DisplayName = "40 ASCII bytes")]
    [DataRow(16, "\u00e9", 30, DisplayName = "2-byte characters: 15 of them, not half of the 16th")]
    [DataRow(11, "\u20ac", 30, DisplayName = "3-byte characters: 10 of them")]
    [DataRow(8, "\U0001F4F7", 28, DisplayName = "4-byte characters (surrogate pairs): 7 of them")]
    public void Create_ends_the_card_with_a_NUL_at_a_character_boundary(int count, string escaped, int expectedBytes)
    {
        var unit = System.Text.RegularExpressions.Regex.Unescape(escaped);
        var card = string.Concat(Enumerable.Repeat(unit, count));
        var config = ConfigSpace.Create(0, 0, card);
        var bytes = new byte[40];
        Assert.IsTrue(ConfigSpace.TryEncode(config, bytes));
        var field = bytes.AsSpan(8, 32);
        var end = field.IndexOf((byte)0);
        Assert.AreEqual(expectedBytes, end, "bytes before the NUL");
        Assert.IsTrue(field[end..].IndexOfAnyExcept((byte)0) < 0, "the rest of card is zero");
        var text = new System.Text.UTF8Encoding(false, true).GetString(field[..end]);
        Assert.IsTrue(card.StartsWith(text, StringComparison.Ordinal), "a prefix of the name, whole characters");
        Assert.AreEqual(text, ConfigSpace.Card(config));
    }
}
