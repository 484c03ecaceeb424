using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Compliance.Running;
using VirtioMedia.Runtime.Driver;
using static VirtioMedia.Abi.Constants;

namespace VirtioMedia.Compliance.Groups;

/// <summary>Calls and readings several groups share.</summary>
internal static class Probes
{
    /// <summary>Enumerations stop here: a device that never answers EINVAL fails instead of looping.</summary>
    public const int EnumerationLimit = 256;

    public static readonly int PlaneSize = Marshal.SizeOf<v4l2_plane>();

    /// <summary>The text of a NUL-terminated fixed array, and whether it has its NUL.</summary>
    public static (string Text, bool Terminated) Text(ReadOnlySpan<byte> bytes)
    {
        var end = bytes.IndexOf((byte)0);
        return (Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]), end >= 0);
    }

    /// <summary>v4l2-compliance's check_ustring: a non-empty, NUL-terminated string.</summary>
    public static void CheckString(ComplianceContext context, ReadOnlySpan<byte> bytes, string field, string source)
    {
        var (text, terminated) = Text(bytes);
        context.Check(terminated, $"{field} is not NUL-terminated", source + ", check_ustring");
        context.Check(text.Length > 0, $"{field} is empty", source + ", check_ustring");
    }

    /// <summary>v4l2-compliance's check_0: reserved fields are zeroed.</summary>
    public static void CheckZero(ComplianceContext context, ReadOnlySpan<byte> bytes, string field, string source) =>
        context.Check(bytes.IndexOfAnyExcept((byte)0) < 0, $"{field} is not zeroed", source + ", check_0");

    public static ReadOnlySpan<byte> Bytes<T>(ref T value)
        where T : unmanaged => MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref value, 1));

    /// <summary>Whether two payloads are equal byte for byte (v4l2-compliance's matchFormats compares the whole format).</summary>
    public static bool Same<T>(T a, T b)
        where T : unmanaged => Bytes(ref a).SequenceEqual(Bytes(ref b));

    /// <summary>The pixel formats ENUM_FMT lists for <paramref name="type"/>, in order.</summary>
    public static async Task<List<v4l2_fmtdesc>> FormatsAsync(DriverSession session, uint type, CancellationToken cancellationToken)
    {
        var formats = new List<v4l2_fmtdesc>();
        for (uint index = 0; index < EnumerationLimit; index++)
        {
            var answer = await session.VIDIOC_ENUM_FMT(new v4l2_fmtdesc { type = type, index = index }, null, cancellationToken).ConfigureAwait(false);
            if (answer.Status != 0)
            {
                break;
            }
            formats.Add(answer.Payload);
        }
        return formats;
    }

    /// <summary>The plane array trailer of a multi-planar buffer type (room for every plane), or null.</summary>
    public static IoctlExtras? PlaneExtras(uint type, byte[]? planes = null) => IsMultiPlanar(type)
        ? new IoctlExtras { Elements = planes ?? new byte[VIRTIO_MEDIA_MAX_PLANES * PlaneSize] }
        : null;

    public static bool IsMultiPlanar(uint type) => type is V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE or V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;

    /// <summary>QUERYBUF of buffer <paramref name="index"/> with its planes (one entry for single-planar types).</summary>
    public static async Task<(int Status, v4l2_buffer Buffer, v4l2_plane[] Planes)> QueryBufferAsync(DriverSession session, uint type, uint memory, uint index, CancellationToken cancellationToken)
    {
        var mplane = IsMultiPlanar(type);
        var planeBytes = new byte[VIRTIO_MEDIA_MAX_PLANES * PlaneSize];
        var request = new v4l2_buffer { type = type, memory = memory, index = index, length = mplane ? (uint)VIRTIO_MEDIA_MAX_PLANES : 0 };
        // A VIRTIO_OBJECT buffer carries one UUID a plane in both directions.
        var extras = new IoctlExtras
        {
            Elements = mplane ? planeBytes : Memory<byte>.Empty,
            Uuids = memory == V4L2_MEMORY_DMABUF ? new byte[(mplane ? VIRTIO_MEDIA_MAX_PLANES : 1) * 16] : Memory<byte>.Empty,
        };
        var answer = await session.VIDIOC_QUERYBUF(request, extras, cancellationToken).ConfigureAwait(false);
        if (answer.Status != 0)
        {
            return (answer.Status, answer.Payload, []);
        }
        if (!mplane)
        {
            var single = new v4l2_plane { length = answer.Payload.length, bytesused = answer.Payload.bytesused };
            single.m.mem_offset = answer.Payload.m.offset;
            return (0, answer.Payload, [single]);
        }
        var count = (int)Math.Min(answer.Payload.length, VIRTIO_MEDIA_MAX_PLANES);
        return (0, answer.Payload, MemoryMarshal.Cast<byte, v4l2_plane>(planeBytes)[..count].ToArray());
    }

    /// <summary>G_FMT of the node's buffer type (the test fails when the device refuses it).</summary>
    public static async Task<v4l2_format> CurrentFormatAsync(ComplianceContext context, DriverSession session)
    {
        var answer = await session.VIDIOC_G_FMT(new v4l2_format { type = context.Node.BufferType }, null, context.Token).ConfigureAwait(false);
        context.Expect(answer.Status, 0, "VIDIOC_G_FMT", "v4l2-test-formats.cpp, testGetFormats");
        return answer.Payload;
    }

    /// <summary>The memory types REQBUFS(count 0) accepts, with the capability bits it reported.</summary>
    public static async Task<(bool Mmap, bool UserPtr, bool DmaBuf, uint Capabilities)> MemoryTypesAsync(DriverSession session, uint type, CancellationToken cancellationToken)
    {
        var results = new bool[3];
        uint caps = 0;
        var memories = new[] { V4L2_MEMORY_MMAP, V4L2_MEMORY_USERPTR, V4L2_MEMORY_DMABUF };
        for (var i = 0; i < memories.Length; i++)
        {
            var answer = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = type, memory = memories[i], count = 0 }, null, cancellationToken).ConfigureAwait(false);
            results[i] = answer.Status == 0;
            if (answer.Status == 0)
            {
                caps = answer.Payload.capabilities;
            }
        }
        return (results[0], results[1], results[2], caps);
    }
}
