using System;
using System.Collections.Generic;

namespace VirtioMedia.Compliance;

/// <summary>How the suite runs.</summary>
public sealed class ComplianceOptions
{
    /// <summary>Run the streaming tests (v4l2-compliance's <c>-s</c>); on by default.</summary>
    public bool Streaming { get; init; } = true;

    /// <summary>Frames each streaming test dequeues (v4l2-compliance's <c>-s</c> count).</summary>
    public int StreamFrames { get; init; } = 8;

    /// <summary>The bounded wait of one test: a test still running after it is reported as a hang and abandoned.</summary>
    public TimeSpan TestTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long one command may stay unanswered before the test fails with the device hung.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>How long connecting to the device may take.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Run the hostile-driver probes (raw command chains a driver endpoint never sends); on by default.</summary>
    public bool HostileDriver { get; init; } = true;

    /// <summary>When not null, only tests whose name contains one of these strings run.</summary>
    public IReadOnlyList<string>? Only { get; init; }
}
