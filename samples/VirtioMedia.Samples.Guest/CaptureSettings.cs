using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.Extensions.Logging;
using VirtioMedia.Abi;

namespace VirtioMedia.Samples.Guest;

/// <summary>The V4L2 memory type the capture buffers use, named after the guest-side API.</summary>
public enum CaptureMemory
{
    /// <summary>V4L2_MEMORY_MMAP: device buffers mapped through shared memory region 0.</summary>
    Mmap,

    /// <summary>V4L2_MEMORY_USERPTR: guest pages handed to the device (virtio-media SHARED_PAGES).</summary>
    UserPtr,

    /// <summary>V4L2_MEMORY_DMABUF: buffers exported by another session and imported by UUID (VIRTIO_OBJECT).</summary>
    DmaBuf,
}

/// <summary>A control to change while streaming: set <paramref name="Name"/> to <paramref name="Value"/> once frame
/// <paramref name="AtFrame"/> (counted from 0) has been received.</summary>
public sealed record ControlChange(string Name, int Value, int AtFrame)
{
    /// <summary>Parses <c>name=value@frame</c>.</summary>
    public static bool TryParse(string text, out ControlChange? change, out string error)
    {
        change = null;
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        var at = text.LastIndexOf('@');
        if (equals <= 0 || at < equals + 2 || at == text.Length - 1)
        {
            error = $"'{text}' is not name=value@frame (for example brightness=200@150)";
            return false;
        }
        if (!int.TryParse(text.AsSpan(equals + 1, at - equals - 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            error = $"'{text}': the value is not an integer";
            return false;
        }
        if (!int.TryParse(text.AsSpan(at + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var frame))
        {
            error = $"'{text}': the frame is not a non-negative integer";
            return false;
        }
        change = new ControlChange(text.Substring(0, equals).Trim(), value, frame);
        error = "";
        return true;
    }
}

/// <summary>Everything a capture run is told on the command line.</summary>
public sealed record CaptureSettings
{
    /// <summary>The vhost-user socket the host listens on.</summary>
    public required string Socket { get; init; }

    /// <summary>The fourcc to capture.</summary>
    public uint PixelFormat { get; init; } = Constants.V4L2_PIX_FMT_YUYV;

    /// <summary>The requested frame width (the device may adjust it).</summary>
    public int Width { get; init; } = 1280;

    /// <summary>The requested frame height (the device may adjust it).</summary>
    public int Height { get; init; } = 720;

    /// <summary>How many frames to capture.</summary>
    public int Frames { get; init; } = 300;

    /// <summary>How many buffers circulate.</summary>
    public int Buffers { get; init; } = 4;

    /// <summary>The memory type of the buffers.</summary>
    public CaptureMemory Memory { get; init; } = CaptureMemory.Mmap;

    /// <summary>Save every K-th frame as PNG (0: none).</summary>
    public int PngEvery { get; init; }

    /// <summary>Where PNG files go.</summary>
    public string OutputDirectory { get; init; } = "capture-output";

    /// <summary>Controls to change mid-stream; when empty, brightness changes at half the run.</summary>
    public IReadOnlyList<ControlChange> ControlChanges { get; init; } = [];

    /// <summary>Compare every frame with the test pattern the camera renders.</summary>
    public bool Verify { get; init; }

    /// <summary>Show a progress bar (only when the output is a terminal).</summary>
    public bool ShowProgress { get; init; } = true;

    /// <summary>How long a command or a frame may take before the run fails.</summary>
    public TimeSpan DeviceTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The lowest level logged (to stderr).</summary>
    public LogLevel LogLevel { get; init; } = LogLevel.Warning;

    /// <summary>Parses a <c>WIDTHxHEIGHT</c> size.</summary>
    public static bool TryParseSize(string text, out int width, out int height)
    {
        width = height = 0;
        var x = text.IndexOfAny(['x', 'X']);
        return x > 0
            && int.TryParse(text.AsSpan(0, x), NumberStyles.None, CultureInfo.InvariantCulture, out width)
            && int.TryParse(text.AsSpan(x + 1), NumberStyles.None, CultureInfo.InvariantCulture, out height)
            && width > 0 && height > 0;
    }
}
