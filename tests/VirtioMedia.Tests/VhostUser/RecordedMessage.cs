using System;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>One recorded message: on the main or the back-end channel, sent by the front-end (QEMU) or the back-end.</summary>
internal sealed record RecordedMessage(int Line, bool OnBackendChannel, bool FromFrontend, uint Request, string Name, uint Flags, byte[] Payload, int FileDescriptors)
{
    public bool IsFrontendRequest => !OnBackendChannel && FromFrontend;

    public ulong U64 => BitConverter.ToUInt64(Payload);

    public uint Index => BitConverter.ToUInt32(Payload);

    public uint Num => BitConverter.ToUInt32(Payload, 4);

    public override string ToString() => $"line {Line}: {(OnBackendChannel ? "backend" : "main")} {(FromFrontend ? "F>B" : "B>F")} {Request} {Name} flags=0x{Flags:x} size={Payload.Length} fds={FileDescriptors}";
}
