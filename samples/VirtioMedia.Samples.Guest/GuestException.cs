using System;

namespace VirtioMedia.Samples.Guest;

/// <summary>The guest's exit codes.</summary>
public static class ExitCodes
{
    /// <summary>Every frame arrived (and matched, when verified).</summary>
    public const int Success = 0;

    /// <summary>A frame did not match the test pattern, or a control change was not confirmed by its event.</summary>
    public const int VerificationFailed = 1;

    /// <summary>The command line is wrong: bad options, a control the device lacks, an output folder that cannot be written.</summary>
    public const int Usage = 2;

    /// <summary>The device failed, answered something impossible, stopped answering, or went away.</summary>
    public const int DeviceError = 3;

    /// <summary>The demo could not start its host.</summary>
    public const int HostFailed = 4;
}

/// <summary>A failure the guest reports with a message and an exit code (no stack trace: it is not a bug).</summary>
public sealed class GuestException : Exception
{
    /// <summary>Describes the failure.</summary>
    public GuestException(int exitCode, string message, Exception? inner = null) : base(message, inner) => ExitCode = exitCode;

    /// <summary>The process exit code this failure ends with.</summary>
    public int ExitCode { get; }
}
