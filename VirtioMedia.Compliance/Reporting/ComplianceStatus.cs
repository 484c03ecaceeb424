namespace VirtioMedia.Compliance.Reporting;

/// <summary>The outcome of one test, as v4l2-compliance prints it.</summary>
public enum ComplianceStatus
{
    /// <summary>"OK": every check held.</summary>
    Ok,

    /// <summary>"OK (Not Supported)": the device does not offer what the test checks, which is allowed.</summary>
    NotSupported,

    /// <summary>"FAIL": a check failed, the device hung (no answer in the bounded wait) or broke the protocol.</summary>
    Fail,
}
