using System;

namespace VirtioMedia.Fuzzing;

/// <summary>The fuzzing targets by name (the name is also the corpus folder under fuzz/corpus/).</summary>
public static class Targets
{
    /// <summary>The device side of the command queue: see <see cref="DeviceCommandQueueTarget"/>.</summary>
    public const string DeviceCommands = "device-commands";

    /// <summary>The driver side of used entries and event buffers: see <see cref="DriverCompletionTarget"/>.</summary>
    public const string DriverCompletions = "driver-completions";

    /// <summary>The back-end's framing of front-end messages: see <see cref="VhostUserMessagesTarget"/>.</summary>
    public const string VhostUserMessages = "vhost-user-messages";

    public static readonly string[] Names = [DeviceCommands, DriverCompletions, VhostUserMessages];

    public static Action<byte[]>? Find(string name) => name switch
    {
        DeviceCommands => DeviceCommandQueueTarget.Run,
        DriverCompletions => DriverCompletionTarget.Run,
        VhostUserMessages => VhostUserMessagesTarget.Run,
        _ => null,
    };
}
