namespace VirtioMedia.Runtime.Wire;

/// <summary>
/// The outcome of a codec call: success, or a Linux errno with a fixed reason text. It never allocates:
/// reasons are string literals.
/// </summary>
/// <param name="Errno">0 on success, else the error code a device answers with (see <see cref="Wire.Errno"/>).</param>
/// <param name="Reason">What was wrong, or null on success.</param>
public readonly record struct WireResult(int Errno, string? Reason)
{
    /// <summary>Success.</summary>
    public static WireResult Ok => default;

    /// <summary>Whether the call succeeded.</summary>
    public bool IsSuccess => Errno == 0;

    /// <summary>A failure with <paramref name="errno"/>.</summary>
    public static WireResult Fail(int errno, string reason) => new(errno, reason);

    /// <inheritdoc/>
    public override string ToString() => IsSuccess ? "ok" : $"errno {Errno}: {Reason}";
}
