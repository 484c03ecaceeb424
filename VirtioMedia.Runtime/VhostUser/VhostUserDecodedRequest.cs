namespace VirtioMedia.Runtime.VhostUser;

/// <summary>The outcome of decoding one front-end message: its header fields (as far as present), the status,
/// and whether the front-end waits for an answer (an explicit reply, or an ack when need_reply is set).</summary>
/// <param name="Status">What was wrong, or <see cref="VhostUserDecodeStatus.Valid"/>.</param>
/// <param name="Request">The request type (0 when the header is truncated).</param>
/// <param name="Flags">The header flags (0 when the header is truncated).</param>
/// <param name="PayloadLength">The payload's length as the header announces it.</param>
/// <param name="HasExplicitReply">Whether the request is answered with a payload of its own (GET_* requests).</param>
public readonly record struct VhostUserDecodedRequest(VhostUserDecodeStatus Status, uint Request, uint Flags, uint PayloadLength, bool HasExplicitReply)
{
    /// <summary>Whether the message is well formed.</summary>
    public bool IsValid => Status == VhostUserDecodeStatus.Valid;
}
