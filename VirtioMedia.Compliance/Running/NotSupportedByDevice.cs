using System;

namespace VirtioMedia.Compliance.Running;

/// <summary>The device does not offer what the test checks: ends the test as "OK (Not Supported)".</summary>
internal sealed class NotSupportedByDevice(string reason) : Exception(reason);
