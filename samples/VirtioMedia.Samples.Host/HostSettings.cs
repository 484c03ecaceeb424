using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Samples.Host;

/// <summary>What the host was asked to do.</summary>
internal sealed class HostSettings
{
    public required string SocketPath { get; init; }

    public bool ExitOnDisconnect { get; init; }

    public ulong SharedMemoryBytes { get; init; } = 256UL << 20;

    public bool TraceVhostUser { get; init; }

    public CameraOptions Camera { get; init; } = new();
}
