using System;
using BenchmarkDotNet.Attributes;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Benchmarks;

// The hand-written baselines use the generated structs directly: Marshal.StructureToPtr / PtrToStructure accept
// them (they are blittable, InlineArray fields included), so no [MarshalAs(ByValArray)] mirror structs are needed.
// Like most hand-written code, the baselines check nothing the peer sends except what they need to find the next
// struct; the codec checks every count, length and SG list.

/// <summary>VIDIOC_QBUF, OUTPUT_MPLANE, USERPTR, 3 planes, 4 SG entries (plane 0 in two runs).</summary>
[MemoryDiagnoser]
public class QbufUserptr3Planes : IoctlRoundTrip
{
    private static readonly uint[] Lengths = { 0x3000, 0x1000, 0x800 };

    private virtio_media_cmd_ioctl _command;
    private v4l2_buffer _buffer;
    private readonly v4l2_plane[] _planes = new v4l2_plane[3];
    private readonly virtio_media_sg_entry[] _sg = new virtio_media_sg_entry[4];
    private v4l2_buffer _deviceBuffer;
    private readonly v4l2_plane[] _devicePlanes = new v4l2_plane[8];
    private readonly virtio_media_sg_entry[] _deviceSg = new virtio_media_sg_entry[64];

    protected override void Fill(IoctlMessage driver)
    {
        driver.Reset(Ioctls.VIDIOC_QBUF.Descriptor, 7);
        ref var buffer = ref driver.PayloadAs<v4l2_buffer>();
        (buffer.index, buffer.type, buffer.memory, buffer.length) = (1, 10, 2, 3);
        buffer.bytesused = 0;
        buffer.m.planes = 0x0000_7FFF_DEAD_0000;
        driver.ElementCount = 3;
        var planes = driver.ElementsAs<v4l2_plane>();
        for (var i = 0; i < 3; i++)
        {
            planes[i].length = Lengths[i];
            planes[i].bytesused = Lengths[i];
            planes[i].m.userptr = 0x1000_0000UL * (ulong)(i + 1);
        }
        driver.SgEntryCount = 4;
        driver.SgEntries[0] = new virtio_media_sg_entry { start = 0x8_0000_0000, len = 0x2000 };
        driver.SgEntries[1] = new virtio_media_sg_entry { start = 0x9_0000_0000, len = 0x1000 };
        driver.SgEntries[2] = new virtio_media_sg_entry { start = 0xA_0000_0000, len = 0x1000 };
        driver.SgEntries[3] = new virtio_media_sg_entry { start = 0xB_0000_0000, len = 0x800 };
    }

    protected override void FillMarshal(IoctlMessage driver)
    {
        _command = Command(driver);
        _buffer = driver.PayloadAs<v4l2_buffer>();
        driver.ElementsAs<v4l2_plane>().CopyTo(_planes);
        driver.SgEntries.CopyTo(_sg);
    }

    protected override void MarshalRoundTrip()
    {
        // Driver: command, payload, planes, SG lists.
        var at = Put(RequestBuffer, _command);
        at = Put(at, _buffer);
        for (var i = 0; i < _buffer.length; i++)
        {
            at = Put(at, _planes[i]);
        }
        foreach (var entry in _sg)
        {
            at = Put(at, entry);
        }

        // Device: the same, walking each plane's SG list until it covers the plane's length.
        at = Get(RequestBuffer, out virtio_media_cmd_ioctl _);
        at = Get(at, out _deviceBuffer);
        var planeCount = (int)Math.Min(_deviceBuffer.length, 8u);
        for (var i = 0; i < planeCount; i++)
        {
            at = Get(at, out _devicePlanes[i]);
        }
        var sgCount = 0;
        for (var i = 0; i < planeCount; i++)
        {
            for (ulong covered = 0; covered < _devicePlanes[i].length && sgCount < _deviceSg.Length; covered += _deviceSg[sgCount++].len)
            {
                at = Get(at, out _deviceSg[sgCount]);
            }
        }

        // Device response: header, payload, planes.
        at = Put(ResponseBuffer, new virtio_media_resp_header());
        at = Put(at, _deviceBuffer);
        for (var i = 0; i < planeCount; i++)
        {
            at = Put(at, _devicePlanes[i]);
        }

        // Driver: header, payload, planes.
        at = Get(ResponseBuffer, out virtio_media_resp_header _);
        at = Get(at, out _buffer);
        for (var i = 0; i < planeCount; i++)
        {
            at = Get(at, out _planes[i]);
        }
    }
}

/// <summary>VIDIOC_S_EXT_CTRLS with 16 controls: 12 value controls, 4 pointer controls with 6 SG entries in all.</summary>
[MemoryDiagnoser]
public class SExtCtrls16Controls : IoctlRoundTrip
{
    private virtio_media_cmd_ioctl _command;
    private v4l2_ext_controls _controls;
    private readonly v4l2_ext_control[] _elements = new v4l2_ext_control[16];
    private readonly virtio_media_sg_entry[] _sg = new virtio_media_sg_entry[6];
    private v4l2_ext_controls _deviceControls;
    private readonly v4l2_ext_control[] _deviceElements = new v4l2_ext_control[64];
    private readonly virtio_media_sg_entry[] _deviceSg = new virtio_media_sg_entry[64];

    protected override void Fill(IoctlMessage driver)
    {
        driver.Reset(Ioctls.VIDIOC_S_EXT_CTRLS.Descriptor, 7);
        ref var controls = ref driver.PayloadAs<v4l2_ext_controls>();
        controls.which = 0x00990000;
        controls.count = 16;
        controls.controls = 0x6000_0000;
        driver.ElementCount = 16;
        var elements = driver.ElementsAs<v4l2_ext_control>();
        // Every fourth control is a pointer control; sizes 24 (1 entry), 64 (2), 256 (1), 8192 (2).
        uint[] sizes = { 24, 64, 256, 8192 };
        var sg = 0;
        for (var i = 0; i < 16; i++)
        {
            elements[i].id = 0x00980900 + (uint)i;
            if (i % 4 != 3)
            {
                elements[i].value = i * 10;
                continue;
            }
            var size = sizes[i / 4];
            elements[i].size = size;
            elements[i].ptr = 0x6100_0000UL + (ulong)i * 0x10000;
            var pieces = size is 64 or 8192 ? 2u : 1u;
            for (var p = 0u; p < pieces; p++)
            {
                driver.SgEntryCount = sg + 1;
                driver.SgEntries[sg++] = new virtio_media_sg_entry { start = 0x4000_0000UL * (ulong)(sg + 1), len = size / pieces };
            }
        }
    }

    protected override void FillMarshal(IoctlMessage driver)
    {
        _command = Command(driver);
        _controls = driver.PayloadAs<v4l2_ext_controls>();
        driver.ElementsAs<v4l2_ext_control>().CopyTo(_elements);
        driver.SgEntries.CopyTo(_sg);
    }

    protected override void MarshalRoundTrip()
    {
        var at = Put(RequestBuffer, _command);
        at = Put(at, _controls);
        for (var i = 0; i < _controls.count; i++)
        {
            at = Put(at, _elements[i]);
        }
        foreach (var entry in _sg)
        {
            at = Put(at, entry);
        }

        at = Get(RequestBuffer, out virtio_media_cmd_ioctl _);
        at = Get(at, out _deviceControls);
        var count = (int)Math.Min(_deviceControls.count, (uint)_deviceElements.Length);
        for (var i = 0; i < count; i++)
        {
            at = Get(at, out _deviceElements[i]);
        }
        var sgCount = 0;
        for (var i = 0; i < count; i++)
        {
            for (ulong covered = 0; covered < _deviceElements[i].size && sgCount < _deviceSg.Length; covered += _deviceSg[sgCount++].len)
            {
                at = Get(at, out _deviceSg[sgCount]);
            }
        }

        at = Put(ResponseBuffer, new virtio_media_resp_header());
        at = Put(at, _deviceControls);
        for (var i = 0; i < count; i++)
        {
            at = Put(at, _deviceElements[i]);
        }

        at = Get(ResponseBuffer, out virtio_media_resp_header _);
        at = Get(at, out _controls);
        for (var i = 0; i < count; i++)
        {
            at = Get(at, out _elements[i]);
        }
    }
}

/// <summary>VIDIOC_G_FMT, single-planar capture: the 208-byte payload in both parts, no trailers.</summary>
[MemoryDiagnoser]
public class GFmt : IoctlRoundTrip
{
    private virtio_media_cmd_ioctl _command;
    private v4l2_format _format;
    private v4l2_format _deviceFormat;

    protected override void Fill(IoctlMessage driver)
    {
        driver.Reset(Ioctls.VIDIOC_G_FMT.Descriptor, 7);
        ref var format = ref driver.PayloadAs<v4l2_format>();
        format.type = 1;
        format.fmt.pix.width = 640;
        format.fmt.pix.height = 480;
        format.fmt.pix.pixelformat = 0x56595559; // 'YUYV'
        format.fmt.pix.bytesperline = 1280;
        format.fmt.pix.sizeimage = 640 * 480 * 2;
    }

    protected override void FillMarshal(IoctlMessage driver)
    {
        _command = Command(driver);
        _format = driver.PayloadAs<v4l2_format>();
    }

    protected override void MarshalRoundTrip()
    {
        var at = Put(RequestBuffer, _command);
        Put(at, _format);

        at = Get(RequestBuffer, out virtio_media_cmd_ioctl _);
        Get(at, out _deviceFormat);

        at = Put(ResponseBuffer, new virtio_media_resp_header());
        Put(at, _deviceFormat);

        at = Get(ResponseBuffer, out virtio_media_resp_header _);
        Get(at, out _format);
    }
}
