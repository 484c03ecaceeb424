using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;

namespace VirtioMedia.Samples.Guest;

/// <summary>A control the device offers (VIDIOC_QUERYCTRL) and its value when surveyed.</summary>
public sealed record ControlInfo(uint Id, string Name, uint Type, int Minimum, int Maximum, int Step, int Default, int Value);

/// <summary>A format of one buffer type, with its frame sizes.</summary>
public sealed record FormatInfo(uint BufferType, uint PixelFormat, string Description, IReadOnlyList<string> FrameSizes);

/// <summary>What the device offers: formats, frame sizes, intervals and controls, asked the way a V4L2 application asks.</summary>
public sealed class DeviceSurvey
{
    private const int EnumerationLimit = 256; // a device that never answers EINVAL must not keep the loop going

    private DeviceSurvey(string card, uint deviceCaps, List<FormatInfo> formats, List<ControlInfo> controls, List<string> intervals)
    {
        Card = card;
        DeviceCaps = deviceCaps;
        Formats = formats;
        Controls = controls;
        Intervals = intervals;
    }

    /// <summary>The card name of the configuration space.</summary>
    public string Card { get; }

    /// <summary>The device capabilities of the configuration space.</summary>
    public uint DeviceCaps { get; }

    /// <summary>Every format of every capture buffer type the device has.</summary>
    public IReadOnlyList<FormatInfo> Formats { get; }

    /// <summary>Every control, with its current value.</summary>
    public IReadOnlyList<ControlInfo> Controls { get; }

    /// <summary>The frame intervals of the requested format and size.</summary>
    public IReadOnlyList<string> Intervals { get; }

    /// <summary>Asks the device; intervals are listed for <paramref name="pixelFormat"/> at <paramref name="width"/>x<paramref name="height"/>.</summary>
    public static async Task<DeviceSurvey> TakeAsync(DriverSession session, uint pixelFormat, int width, int height, CancellationToken cancellationToken)
    {
        var caps = session.Endpoint.Config.device_caps;
        var formats = new List<FormatInfo>();
        foreach (var (type, cap) in new[] { (Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, Constants.V4L2_CAP_VIDEO_CAPTURE), (Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, Constants.V4L2_CAP_VIDEO_CAPTURE_MPLANE) })
        {
            if ((caps & cap) == 0)
            {
                continue;
            }
            for (uint index = 0; index < EnumerationLimit; index++)
            {
                var format = await session.VIDIOC_ENUM_FMT(new v4l2_fmtdesc { type = type, index = index }, null, cancellationToken).ConfigureAwait(false);
                if (format.Status != 0)
                {
                    break;
                }
                var sizes = await FrameSizesAsync(session, format.Payload.pixelformat, cancellationToken).ConfigureAwait(false);
                var description = format.Payload.description;
                formats.Add(new FormatInfo(type, format.Payload.pixelformat, Text(description), sizes));
            }
        }

        var intervals = new List<string>();
        for (uint index = 0; index < EnumerationLimit; index++)
        {
            var interval = await session.VIDIOC_ENUM_FRAMEINTERVALS(
                new v4l2_frmivalenum { index = index, pixel_format = pixelFormat, width = (uint)width, height = (uint)height }, null, cancellationToken).ConfigureAwait(false);
            if (interval.Status != 0)
            {
                break;
            }
            var value = interval.Payload;
            intervals.Add(value.type == Constants.V4L2_FRMIVAL_TYPE_DISCRETE
                ? $"{value.discrete.numerator}/{value.discrete.denominator} s"
                : $"{value.stepwise.min.numerator}/{value.stepwise.min.denominator}..{value.stepwise.max.numerator}/{value.stepwise.max.denominator} s");
            if (value.type != Constants.V4L2_FRMIVAL_TYPE_DISCRETE)
            {
                break;
            }
        }

        var controls = await ControlsAsync(session, cancellationToken).ConfigureAwait(false);
        return new DeviceSurvey(session.Endpoint.Card, caps, formats, controls, intervals);
    }

    /// <summary>Finds a control by its name: case, spaces and underscores do not matter, and <c>hflip</c>/<c>vflip</c>
    /// name the flips.</summary>
    public ControlInfo? FindControl(string name)
    {
        var wanted = Normalize(name) switch
        {
            "hflip" => "horizontalflip",
            "vflip" => "verticalflip",
            var other => other,
        };
        foreach (var control in Controls)
        {
            if (Normalize(control.Name) == wanted)
            {
                return control;
            }
        }
        return null;
    }

    /// <summary>Writes the survey for a person to read.</summary>
    public void Print(TextWriter output, uint pixelFormat, int width, int height)
    {
        output.WriteLine($"card: {Card} (device caps 0x{DeviceCaps:X8})");
        output.WriteLine("formats:");
        foreach (var format in Formats)
        {
            var api = format.BufferType == Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE ? "capture-mplane" : "capture";
            output.WriteLine($"  {PixelFormatNames.Name(format.PixelFormat),-6} {api,-15} {format.Description}");
            output.WriteLine($"         sizes: {string.Join(' ', format.FrameSizes)}");
        }
        output.WriteLine($"frame intervals of {PixelFormatNames.Name(pixelFormat)} {width}x{height}: {(Intervals.Count == 0 ? "none listed" : string.Join(", ", Intervals))}");
        output.WriteLine("controls:");
        foreach (var control in Controls)
        {
            var kind = control.Type == Constants.V4L2_CTRL_TYPE_BOOLEAN ? "bool" : "int";
            output.WriteLine($"  {control.Name,-16} 0x{control.Id:X8} {kind,-4} {control.Minimum}..{control.Maximum} step {control.Step} default {control.Default} value {control.Value}");
        }
    }

    private static async Task<List<string>> FrameSizesAsync(DriverSession session, uint pixelFormat, CancellationToken cancellationToken)
    {
        var sizes = new List<string>();
        for (uint index = 0; index < EnumerationLimit; index++)
        {
            var size = await session.VIDIOC_ENUM_FRAMESIZES(new v4l2_frmsizeenum { index = index, pixel_format = pixelFormat }, null, cancellationToken).ConfigureAwait(false);
            if (size.Status != 0)
            {
                break;
            }
            var value = size.Payload;
            if (value.type == Constants.V4L2_FRMSIZE_TYPE_DISCRETE)
            {
                sizes.Add($"{value.discrete.width}x{value.discrete.height}");
                continue;
            }
            var step = value.stepwise;
            sizes.Add($"{step.min_width}x{step.min_height}..{step.max_width}x{step.max_height} (step {step.step_width}x{step.step_height})");
            break;
        }
        return sizes;
    }

    private static async Task<List<ControlInfo>> ControlsAsync(DriverSession session, CancellationToken cancellationToken)
    {
        var controls = new List<ControlInfo>();
        var id = 0u;
        for (var n = 0; n < EnumerationLimit; n++)
        {
            var query = await session.VIDIOC_QUERYCTRL(new v4l2_queryctrl { id = id | Constants.V4L2_CTRL_FLAG_NEXT_CTRL }, null, cancellationToken).ConfigureAwait(false);
            if (query.Status != 0 || (query.Payload.id & ~Constants.V4L2_CTRL_FLAG_NEXT_CTRL) <= id)
            {
                break;
            }
            id = query.Payload.id;
            await AddAsync(session, query.Payload, controls, cancellationToken).ConfigureAwait(false);
        }
        if (controls.Count > 0)
        {
            return controls;
        }
        // A device without V4L2_CTRL_FLAG_NEXT_CTRL: ask for the user-class controls one by one.
        for (var cid = (uint)Constants.V4L2_CID_BASE; cid < (uint)Constants.V4L2_CID_LASTP1; cid++)
        {
            var query = await session.VIDIOC_QUERYCTRL(new v4l2_queryctrl { id = cid }, null, cancellationToken).ConfigureAwait(false);
            if (query.Status == 0)
            {
                await AddAsync(session, query.Payload, controls, cancellationToken).ConfigureAwait(false);
            }
        }
        return controls;
    }

    private static async Task AddAsync(DriverSession session, v4l2_queryctrl query, List<ControlInfo> controls, CancellationToken cancellationToken)
    {
        if (query.type == Constants.V4L2_CTRL_TYPE_CTRL_CLASS || (query.flags & Constants.V4L2_CTRL_FLAG_DISABLED) != 0)
        {
            return;
        }
        var current = await session.VIDIOC_G_CTRL(new v4l2_control { id = query.id }, null, cancellationToken).ConfigureAwait(false);
        controls.Add(new ControlInfo(query.id, Text(query.name), query.type, query.minimum, query.maximum, query.step, query.default_value,
            current.Status == 0 ? current.Payload.value : query.default_value));
    }

    private static string Text(ReadOnlySpan<byte> bytes)
    {
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes.Slice(0, end));
    }

    private static string Normalize(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            if (char.IsLetterOrDigit(c))
            {
                builder.Append(char.ToLowerInvariant(c));
            }
        }
        return builder.ToString();
    }
}
