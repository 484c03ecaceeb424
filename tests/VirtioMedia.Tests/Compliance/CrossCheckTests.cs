using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Compliance;
using VirtioMedia.Compliance.Reporting;
using VirtioMedia.Compliance.Targets;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Samples.Camera;
using VirtioMedia.TestDevices;

namespace VirtioMedia.Tests.Compliance;

/// <summary>
/// The suite fails where the real v4l2-compliance fails and passes where it passes: for every test device, the
/// suite's failing tests, run in process against the device, equal the failing tests recorded from v4l2-compliance
/// 1.22.1 in a Linux guest (docs/compliance-crosscheck/RULE.txt, written by tools/compliance-crosscheck/run), among
/// the tests both have. The only differences allowed are listed in <see cref="AllowedDifferences"/>, each with its
/// reason (also in docs/compliance-crosscheck.md).
/// </summary>
[TestClass]
public sealed class CrossCheckTests
{
    public TestContext TestContext { get; set; } = null!;

    /// <summary>Tests v4l2-compliance fails and the suite passes, or the reverse, and why that is not a miss.</summary>
    private static readonly Dictionary<BrokenRule, Dictionary<string, string>> AllowedDifferences = new()
    {
        // v4l2-compliance's testEnumFrameSizes aborts the format walk at the 0x0 size, which leaves its format map
        // empty; its G/TRY/S_FMT tests then fail "pixelformat ... not reported by ENUM_FMT" (v4l2-test-formats.cpp(459)).
        // The device's formats are right: the suite enumerates them itself in each format test.
        [BrokenRule.FrameSizeZero] = new()
        {
            ["VIDIOC_G_FMT"] = "knock-on of the aborted enumeration inside v4l2-compliance",
            ["VIDIOC_TRY_FMT"] = "knock-on of the aborted enumeration inside v4l2-compliance",
            ["VIDIOC_S_FMT"] = "knock-on of the aborted enumeration inside v4l2-compliance",
        },
    };

    public static IEnumerable<object[]> Rules => BrokenCamera.Rules.Select(rule => new object[] { rule });

    [TestMethod]
    [DynamicData(nameof(Rules))]
    public async Task The_suite_fails_the_tests_v4l2_compliance_fails(BrokenRule rule)
    {
        var theirs = RecordedResults(rule);
        var device = new BrokenCamera(rule, new CameraOptions
        {
            Fast = true,
            Memory = MemoryTypes.Mmap | MemoryTypes.SharedPages,
            PixelFormats = [Constants.V4L2_PIX_FMT_YUYV, Constants.V4L2_PIX_FMT_RGB24],
        });
        var report = await ComplianceSuite.RunAsync(ComplianceTarget.InProcess(transport => device.CreateEndpoint(transport), _ => device.StopStreams(), new InProcessTargetOptions { SharedMemorySize = 48UL << 20 }));
        // A name can occur in two groups (VIDIOC_G/S_FREQUENCY, as in v4l2-compliance): failing if either fails.
        var ours = report.Tests.GroupBy(test => Strip(test.Name)).ToDictionary(tests => tests.Key, tests => tests.Any(test => test.Status == ComplianceStatus.Fail));

        var both = theirs.Keys.Intersect(ours.Keys).ToArray();
        Assert.IsTrue(both.Length >= 40, $"{both.Length} tests in common");
        var allowed = AllowedDifferences.GetValueOrDefault(rule) ?? new Dictionary<string, string>();
        var differing = both.Where(name => theirs[name] != ours[name]).ToArray();
        foreach (var name in differing)
        {
            TestContext.WriteLine($"{BrokenCamera.NameOf(rule)}: {name}: v4l2-compliance {(theirs[name] ? "FAIL" : "OK")}, suite {(ours[name] ? "FAIL" : "OK")}{(allowed.TryGetValue(name, out var why) ? $" (allowed: {why})" : "")}");
        }
        var unexplained = differing.Where(name => !allowed.ContainsKey(name)).ToArray();
        Assert.AreEqual(0, unexplained.Length, $"{BrokenCamera.NameOf(rule)}: the suite and v4l2-compliance disagree on {string.Join(", ", unexplained)}; "
            + string.Join(" | ", report.Tests.Where(t => t.Status == ComplianceStatus.Fail).Select(t => $"{t.Name}: {t.Failure}")));
        // An allowed difference that no longer occurs is stale.
        CollectionAssert.AreEquivalent(allowed.Keys.ToArray(), differing, "allowed differences that do not occur");
        if (rule != BrokenRule.None)
        {
            Assert.IsTrue(both.Any(name => theirs[name] && ours[name]), "the suite fails none of the tests v4l2-compliance fails");
        }
    }

    private static string Strip(string name) => name.StartsWith("test ", StringComparison.Ordinal) ? name[5..] : name;

    /// <summary>Each test of the recorded runs: failing if any run failed it (the plain run, -s 10, -s 10 with USERPTR).</summary>
    private static Dictionary<string, bool> RecordedResults(BrokenRule rule)
    {
        var path = Path.Combine(Repository.Root, "docs", "compliance-crosscheck", BrokenCamera.NameOf(rule) + ".txt");
        var results = new Dictionary<string, bool>();
        foreach (var line in File.ReadLines(path))
        {
            var tab = line.IndexOf('\t');
            var match = TestLine.Match(tab < 0 ? line : line[(tab + 1)..]);
            if (match.Success)
            {
                var name = match.Groups["name"].Value;
                results[name] = results.GetValueOrDefault(name) || match.Groups["result"].Value == "FAIL";
            }
        }
        Assert.IsTrue(results.Count >= 40, $"{path}: {results.Count} tests");
        return results;
    }

    private static readonly Regex TestLine = new(@"^\s*test (?<name>.+?): (?<result>OK|FAIL)", RegexOptions.CultureInvariant);
}
