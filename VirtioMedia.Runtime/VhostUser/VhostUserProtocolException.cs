using System;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>The other side broke the vhost-user protocol (a malformed, truncated or oversized message,
/// an unexpected reply, or a refused request); the connection is no longer usable.</summary>
public sealed class VhostUserProtocolException : Exception
{
    /// <summary>Describes the violation.</summary>
    public VhostUserProtocolException(string message)
        : base(message)
    {
    }
}
