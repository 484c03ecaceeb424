using System;
using System.Threading.Tasks;
using VirtioMedia.Compliance;
using VirtioMedia.Compliance.Targets;
using VirtioMedia.Proxy;

namespace VirtioMedia.ProxyGuestCheck;

/// <summary>The toolkit's compliance suite run in process through the proxy, one line per test as v4l2-compliance prints it.</summary>
internal static class Compliance
{
    public static async Task<string> RunAsync(string label, string path, bool streaming)
    {
        var proxy = new V4l2Proxy(path);
        var target = ComplianceTarget.InProcess(proxy.Config, proxy.CreateHandler);
        var report = await ComplianceSuite.RunAsync(target, new ComplianceOptions { Streaming = streaming, HostileDriver = true, StreamFrames = 10 });
        foreach (var test in report.Tests)
        {
            Console.WriteLine($"@@compliance {label} {test.Group} | {test.Name}: {test.StatusText}{(test.Failure is null ? "" : " | " + test.Failure.ReplaceLineEndings(" "))}");
        }
        Console.WriteLine($"@@compliance-total {label} {report.TotalsLine}");
        return report.TotalsLine;
    }
}
