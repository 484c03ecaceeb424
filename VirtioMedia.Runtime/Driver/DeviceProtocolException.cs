using System;

namespace VirtioMedia.Runtime.Driver;

/// <summary>The device answered something the protocol does not allow (a bad length, count, offset or id).
/// The driver endpoint never trusts the device: such an answer is reported, never followed.</summary>
public sealed class DeviceProtocolException : Exception
{
    /// <summary>Describes the violation.</summary>
    public DeviceProtocolException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
