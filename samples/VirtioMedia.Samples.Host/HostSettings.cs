using System;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Samples.Host;

/// <summary>What the host was asked to do.</summary>
internal sealed class HostSettings
{
    public required string SocketPath { get; init; }

    public bool ExitOnDisconnect { get; init; }

    public ulong SharedMemoryBytes { get; init; } = 256UL << 20;

    public bool TraceVhostUser { get; init; }

    public bool AcceptUnsealableMemory { get; init; }

    public CameraOptions Camera { get; init; } = new();

    /// <summary>A host V4L2 node to serve through the proxy instead of the camera (--proxy), or null.</summary>
    public string? ProxyNode { get; init; }

    /// <summary>Parses <c>--formats</c>: a comma list of YUYV, NV12, NV12M, RGB24 (at least one, none twice).</summary>
    public static bool TryParseFormats(string text, out uint[] formats, out string error)
    {
        var list = new System.Collections.Generic.List<uint>();
        error = "";
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            uint format = item.ToUpperInvariant() switch
            {
                "YUYV" => Abi.Constants.V4L2_PIX_FMT_YUYV,
                "NV12" => Abi.Constants.V4L2_PIX_FMT_NV12,
                "NV12M" => Abi.Constants.V4L2_PIX_FMT_NV12M,
                "RGB24" => Abi.Constants.V4L2_PIX_FMT_RGB24,
                _ => 0,
            };
            if (format == 0 || list.Contains(format))
            {
                formats = [];
                error = $"--formats: '{item}' is unknown or given twice (YUYV, NV12, NV12M, RGB24)";
                return false;
            }
            list.Add(format);
        }
        formats = [.. list];
        if (formats.Length == 0)
        {
            error = "--formats needs at least one of YUYV, NV12, NV12M, RGB24";
            return false;
        }
        return true;
    }

    /// <summary>Parses <c>--memory</c>: a comma list of mmap, shared-pages and virtio-object (at least one).</summary>
    public static bool TryParseMemory(string text, out MemoryTypes memory, out string error)
    {
        memory = MemoryTypes.None;
        error = "";
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            switch (item)
            {
                case "mmap":
                    memory |= MemoryTypes.Mmap;
                    break;
                case "shared-pages":
                    memory |= MemoryTypes.SharedPages;
                    break;
                case "virtio-object":
                    memory |= MemoryTypes.VirtioObject;
                    break;
                default:
                    error = $"--memory: unknown memory type '{item}' (mmap, shared-pages, virtio-object)";
                    return false;
            }
        }
        if (memory == MemoryTypes.None)
        {
            error = "--memory needs at least one of mmap, shared-pages, virtio-object";
            return false;
        }
        return true;
    }
}
