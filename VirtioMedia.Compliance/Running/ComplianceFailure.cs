using System;

namespace VirtioMedia.Compliance.Running;

/// <summary>A check that did not hold: ends the test as FAIL with the rule and its source.</summary>
internal sealed class ComplianceFailure(string message) : Exception(message);
