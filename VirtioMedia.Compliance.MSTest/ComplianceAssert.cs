using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Compliance.Reporting;
using VirtioMedia.Compliance.Targets;

namespace VirtioMedia.Compliance.MSTest;

/// <summary>Asserts that a device passes the compliance suite: <c>await ComplianceAssert.PassesAsync(target);</c></summary>
public static class ComplianceAssert
{
    /// <summary>Runs the suite on <paramref name="target"/> and fails the test, with the report, when any test failed.
    /// Returns the report for further assertions.</summary>
    public static async Task<ComplianceReport> PassesAsync(ComplianceTarget target, ComplianceOptions? options = null, CancellationToken cancellationToken = default)
    {
        var report = await ComplianceSuite.RunAsync(target, options, null, cancellationToken).ConfigureAwait(false);
        if (report.Failed > 0)
        {
            using var text = new StringWriter();
            report.WriteText(text);
            throw new AssertFailedException($"the device fails {report.Failed} compliance test(s):\n{text}");
        }
        return report;
    }
}
