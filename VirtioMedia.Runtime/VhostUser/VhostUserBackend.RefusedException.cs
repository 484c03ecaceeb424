using System;

namespace VirtioMedia.Runtime.VhostUser;

public sealed partial class VhostUserBackend
{
    /// <summary>A request the loop refuses: an error ack when one was asked for, else the connection ends.</summary>
    private sealed class RefusedException(string message) : Exception(message);
}
