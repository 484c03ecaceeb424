using System;
using System.Diagnostics;
using System.Text;
using VirtioMedia.Abi;
using VirtioMedia.Proxy;

namespace VirtioMedia.ProxyGuestCheck;

/// <summary>vivid read directly (no proxy): its controls set for a still picture, and captures that are the anchor.</summary>
internal static class Vivid
{
    /// <summary>A control of the node by its name (QUERYCTRL with V4L2_CTRL_FLAG_NEXT_CTRL), 0 when absent.</summary>
    public static uint FindControl(HostNode node, string name)
    {
        var query = new v4l2_queryctrl { id = Constants.V4L2_CTRL_FLAG_NEXT_CTRL };
        while (node.Ioctl(Ioctls.VIDIOC_QUERYCTRL.Descriptor.Request, ref query) == 0)
        {
            if (Text(query.name) == name)
            {
                return query.id;
            }
            query = new v4l2_queryctrl { id = query.id | Constants.V4L2_CTRL_FLAG_NEXT_CTRL };
        }
        return 0;
    }

    /// <summary>The index of menu item <paramref name="item"/> of <paramref name="control"/>, -1 when absent.</summary>
    public static int FindMenuItem(HostNode node, uint control, string item)
    {
        for (uint index = 0; index < 64; index++)
        {
            var menu = new v4l2_querymenu { id = control, index = index };
            if (node.Ioctl(Ioctls.VIDIOC_QUERYMENU.Descriptor.Request, ref menu) == 0 && Text(menu.name) == item)
            {
                return (int)index;
            }
        }
        return -1;
    }

    public static int SetControl(HostNode node, uint id, int value)
    {
        var control = new v4l2_control { id = id, value = value };
        return node.Ioctl(Ioctls.VIDIOC_S_CTRL.Descriptor.Request, ref control);
    }

    /// <summary>
    /// Makes vivid's picture the same in every frame: no on-screen text (it prints counters and times) and no moving
    /// pattern. vivid's controls belong to the device, so every later open sees them.
    /// </summary>
    public static string MakeStill(string path)
    {
        using var node = HostNode.Open(path);
        var report = new StringBuilder();
        foreach (var (control, item) in new[] { ("OSD Text Mode", "None"), ("Horizontal Movement", "No Movement"), ("Vertical Movement", "No Movement") })
        {
            var id = FindControl(node, control);
            var index = id == 0 ? -1 : FindMenuItem(node, id, item);
            var status = index < 0 ? -1 : SetControl(node, id, index);
            report.Append($"{control}={item}:{(status == 0 ? "set" : "failed")} ");
            if (status != 0)
            {
                throw new InvalidOperationException($"vivid's control '{control}' could not be set to '{item}' ({report})");
            }
        }
        return report.ToString().Trim();
    }

    /// <summary>Captures <paramref name="frames"/> MMAP frames straight from the node; keeps the last one.</summary>
    public static CaptureResult Capture(string path, uint width, uint height, int frames) => Capture(path, Formats.Request(width, height), frames);

    /// <summary>Captures <paramref name="frames"/> MMAP frames straight from the node in <paramref name="format"/>, or in
    /// the node's current format when null; keeps the last one.</summary>
    public static unsafe CaptureResult Capture(string path, v4l2_format? requested, int frames)
    {
        using var node = HostNode.Open(path);
        var format = requested ?? new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
        Check(node.Ioctl(requested is null ? Ioctls.VIDIOC_G_FMT.Descriptor.Request : Ioctls.VIDIOC_S_FMT.Descriptor.Request, ref format), "S_FMT");
        var parm = Formats.FastestInterval();
        node.Ioctl(Ioctls.VIDIOC_S_PARM.Descriptor.Request, ref parm);
        const uint Count = 4;
        var request = new v4l2_requestbuffers { count = Count, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP };
        Check(node.Ioctl(Ioctls.VIDIOC_REQBUFS.Descriptor.Request, ref request), "REQBUFS");
        var maps = new (IntPtr Address, uint Length)[request.count];
        for (uint i = 0; i < request.count; i++)
        {
            var buffer = new v4l2_buffer { index = i, type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP };
            Check(node.Ioctl(Ioctls.VIDIOC_QUERYBUF.Descriptor.Request, ref buffer), "QUERYBUF");
            maps[i] = (node.Map(buffer.m.offset, buffer.length), buffer.length);
            Check(node.Ioctl(Ioctls.VIDIOC_QBUF.Descriptor.Request, ref buffer), "QBUF");
        }
        var type = (int)Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE;
        Check(node.Ioctl(Ioctls.VIDIOC_STREAMON.Descriptor.Request, ref type), "STREAMON");
        var result = new CaptureResult(format.fmt.pix.sizeimage);
        while (result.Frames < frames)
        {
            if ((node.Poll(HostNode.POLLIN, 5000) & HostNode.POLLIN) == 0)
            {
                throw new TimeoutException("vivid gave no frame within 5 s");
            }
            var buffer = new v4l2_buffer { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = Constants.V4L2_MEMORY_MMAP };
            if (node.Ioctl(Ioctls.VIDIOC_DQBUF.Descriptor.Request, ref buffer) != 0)
            {
                continue;
            }
            result.Add(in buffer.timestamp, new ReadOnlySpan<byte>((void*)maps[buffer.index].Address, (int)buffer.bytesused));
            Check(node.Ioctl(Ioctls.VIDIOC_QBUF.Descriptor.Request, ref buffer), "QBUF");
        }
        result.Finish();
        node.Ioctl(Ioctls.VIDIOC_STREAMOFF.Descriptor.Request, ref type);
        foreach (var (address, length) in maps)
        {
            HostNode.Unmap(address, length);
        }
        return result;
    }

    public static void Check(int status, string what)
    {
        if (status != 0)
        {
            throw new InvalidOperationException($"{what} on vivid failed with errno {status}");
        }
    }

    private static string Text(ReadOnlySpan<byte> bytes)
    {
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }
}
