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

    public CameraOptions Camera { get; init; } = new();

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
