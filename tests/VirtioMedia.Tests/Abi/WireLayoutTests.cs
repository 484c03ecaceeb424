using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;

namespace VirtioMedia.Tests.Abi;

/// <summary>Values written through the generated structs land in the bytes where C puts them, and the
/// sizes the virtio-media spec states hold.</summary>
[TestClass]
public sealed class WireLayoutTests
{
    // Offsets of the 64-bit little-endian kernel ABI, the same on x86-64 and arm64. They are not taken
    // from the generator: gcc confirms each one (Expected_offsets_are_the_gcc_offsets) before the byte
    // checks below rely on it.
    private const int BufferUserptr = 64;     // struct v4l2_buffer, m.userptr
    private const int BufferRequestFd = 80;   // struct v4l2_buffer, request_fd (anonymous union)
    private const int FormatPlane1Size = 48;  // struct v4l2_format, fmt.pix_mp.plane_fmt[1].sizeimage
    private const int DqbufPlane7Fd = 552;    // struct virtio_media_event_dqbuf, planes[7].m.fd

    [TestMethod]
    public void Expected_offsets_are_the_gcc_offsets()
    {
        var asserts = new StaticAsserts();
        asserts.Equal("__builtin_offsetof(struct v4l2_buffer, m.userptr)", BufferUserptr, "v4l2_buffer.m.userptr");
        asserts.Equal("__builtin_offsetof(struct v4l2_buffer, request_fd)", BufferRequestFd, "v4l2_buffer.request_fd");
        asserts.Equal("__builtin_offsetof(struct v4l2_format, fmt.pix_mp.plane_fmt[1].sizeimage)", FormatPlane1Size, "v4l2_format plane 1 sizeimage");
        asserts.Equal("__builtin_offsetof(struct virtio_media_event_dqbuf, planes[7].m.fd)", DqbufPlane7Fd, "dqbuf planes[7].m.fd");
        Gcc.AssertCompiles("offsets.c", asserts.ToString());
    }

    [TestMethod]
    public void Event_sizes_are_the_ones_the_spec_states()
    {
        // The spec: a DQBUF event is always 608 bytes (header + v4l2_buffer + 8 v4l2_plane), an EVENT event 144.
        Assert.AreEqual(608, Unsafe.SizeOf<virtio_media_event_dqbuf>());
        Assert.AreEqual(144, Unsafe.SizeOf<virtio_media_event_event>());

        // The protocol header is written from the spec text: gcc confirms it says the same.
        var asserts = new StaticAsserts();
        asserts.Equal("sizeof(struct virtio_media_event_dqbuf)", 608, "DQBUF event size");
        asserts.Equal("sizeof(struct virtio_media_event_event)", 144, "EVENT event size");
        Gcc.AssertCompiles("spec-sizes.c", asserts.ToString());
    }

    [TestMethod]
    public void Userptr_and_request_fd_land_at_their_C_offsets()
    {
        var buffer = default(v4l2_buffer);
        buffer.m.userptr = 0x1122_3344_5566_7788;
        AssertOnlyBytes(buffer, BufferUserptr, [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);

        buffer = default;
        buffer.request_fd = -2;
        AssertOnlyBytes(buffer, BufferRequestFd, [0xFE, 0xFF, 0xFF, 0xFF]);
        Assert.AreEqual(0xFFFF_FFFEu, buffer.reserved, "request_fd and reserved share the anonymous union");
    }

    [TestMethod]
    public void Plane_format_of_a_multiplanar_format_lands_at_its_C_offset()
    {
        var format = default(v4l2_format);
        format.fmt.pix_mp.plane_fmt[1].sizeimage = 0xA1B2_C3D4;
        AssertOnlyBytes(format, FormatPlane1Size, [0xD4, 0xC3, 0xB2, 0xA1]);
    }

    [TestMethod]
    public void Plane_of_a_dqbuf_event_lands_at_its_C_offset()
    {
        var dqbuf = default(virtio_media_event_dqbuf);
        dqbuf.planes[7].m.fd = 0x0102_0304;
        AssertOnlyBytes(dqbuf, DqbufPlane7Fd, [0x04, 0x03, 0x02, 0x01]);
    }

    /// <summary>Asserts that <paramref name="value"/> holds <paramref name="expected"/> at
    /// <paramref name="offset"/> and zero everywhere else.</summary>
    private static void AssertOnlyBytes<T>(T value, int offset, byte[] expected) where T : unmanaged
    {
        var bytes = Bytes(ref value);
        CollectionAssert.AreEqual(expected, bytes.Slice(offset, expected.Length).ToArray(), $"{typeof(T).Name} at {offset}");
        Assert.AreEqual(-1, bytes[..offset].IndexOfAnyExcept((byte)0), $"{typeof(T).Name}: bytes before {offset} changed");
        Assert.AreEqual(-1, bytes[(offset + expected.Length)..].IndexOfAnyExcept((byte)0), $"{typeof(T).Name}: bytes after the value changed");
    }

    private static ReadOnlySpan<byte> Bytes<T>(ref T value) where T : unmanaged =>
        MemoryMarshal.AsBytes(new ReadOnlySpan<T>(ref value));
}
