using System;
using System.Collections.Generic;

namespace VirtioMedia.Compliance.Reporting;

/// <summary>The result of one test.</summary>
/// <param name="Group">The v4l2-compliance heading the test belongs to ("Format ioctls", "virtio-media", ...).</param>
/// <param name="Name">The test's line as v4l2-compliance prints it ("test VIDIOC_G_FMT").</param>
/// <param name="Status">OK, OK (Not Supported) or FAIL.</param>
/// <param name="Failure">For a failure, the rule that did not hold and where it comes from; otherwise null.</param>
/// <param name="Warnings">Rules the device bent without breaking them (v4l2-compliance's "warn:" lines).</param>
/// <param name="Notes">What the test saw that a reader may want (counts, the reason for "Not Supported").</param>
/// <param name="Duration">How long the test took, connection included.</param>
public sealed record ComplianceTestResult(
    string Group,
    string Name,
    ComplianceStatus Status,
    string? Failure,
    IReadOnlyList<string> Warnings,
    IReadOnlyList<string> Notes,
    TimeSpan Duration)
{
    /// <summary>The status word v4l2-compliance prints after the test name.</summary>
    public string StatusText => Status switch
    {
        ComplianceStatus.Ok => "OK",
        ComplianceStatus.NotSupported => "OK (Not Supported)",
        _ => "FAIL",
    };
}
