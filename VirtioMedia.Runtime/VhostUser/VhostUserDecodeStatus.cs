namespace VirtioMedia.Runtime.VhostUser;

/// <summary>What <see cref="VhostUserRequestDecoder.Decode"/> found wrong with a front-end message, if anything.</summary>
public enum VhostUserDecodeStatus
{
    /// <summary>A well-formed request this back-end handles.</summary>
    Valid,

    /// <summary>Fewer bytes than the 12-byte header, or than the header's size announces.</summary>
    Truncated,

    /// <summary>More bytes than the header's size announces.</summary>
    TrailingBytes,

    /// <summary>The flags' version bits are not 0x1.</summary>
    BadVersion,

    /// <summary>The reply flag is set on a message from the front-end.</summary>
    FlaggedAsReply,

    /// <summary>The payload is larger than <see cref="VhostUserProtocol.MaxPayloadSize"/>.</summary>
    PayloadTooLarge,

    /// <summary>A request this back-end does not handle.</summary>
    UnknownRequest,

    /// <summary>The payload's size does not fit the request (or, for a memory table, its region count).</summary>
    BadPayloadSize,

    /// <summary>The number of descriptors does not fit the request.</summary>
    BadDescriptorCount,
}
