using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Compliance;
using VirtioMedia.Compliance.Reporting;
using VirtioMedia.Compliance.Targets;
using VirtioMedia.Tests.Samples;

namespace VirtioMedia.Tests.Compliance;

/// <summary>
/// The suite over a real vhost-user socket against the sample host as a second process, through the command line
/// (`--exec`, `--json`, exit codes) and through the library, including a host killed in the middle of the run.
/// </summary>
[TestClass]
[TestCategory("EndToEnd")]
public sealed class ComplianceCliTests
{
    private const string Cli = "VirtioMedia.Compliance.Cli.dll";
    private const string Host = "VirtioMedia.Samples.Host.dll";
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(120);

    public TestContext TestContext { get; set; } = null!;

    private static string HostCommand(string extra = "") =>
        $"\"{VirtioMedia.Samples.Guest.HostProcess.DotnetPath()}\" \"{Path.Combine(AppContext.BaseDirectory, Host)}\" --socket {{socket}} --fast --log-level Warning {extra}";

    [TestMethod]
    public async Task The_sample_host_passes_over_vhost_user_and_the_exit_code_is_0()
    {
        using var cli = SampleProcess.Start(Cli, "--exec", HostCommand("--api multi-planar"));
        Assert.AreEqual(0, await cli.WaitForExitAsync(RunTimeout), cli.Output + cli.Error);
        var lines = cli.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.AreEqual($"Total: {ComplianceSuite.TestNames.Count}, Succeeded: {ComplianceSuite.TestNames.Count}, Failed: 0, Warnings: 0", lines[^1]);
        StringAssert.Contains(cli.Output, "test MMAP (no poll): OK");
        StringAssert.Contains(cli.Output, "Card type        : virtio-media virtual camera");
    }

    [TestMethod]
    public async Task Without_shared_memory_the_json_names_the_two_failures_and_the_exit_code_is_1()
    {
        using var cli = SampleProcess.Start(Cli, "--json", "--exec", HostCommand("--shared-memory-mib 0"));
        Assert.AreEqual(1, await cli.WaitForExitAsync(RunTimeout), cli.Error);
        using var json = JsonDocument.Parse(cli.Output);
        var totals = json.RootElement.GetProperty("totals");
        Assert.AreEqual(2, totals.GetProperty("failed").GetInt32());
        var failed = json.RootElement.GetProperty("tests").EnumerateArray().Where(t => t.GetProperty("status").GetString() == "FAIL").Select(t => t.GetProperty("name").GetString()).ToArray();
        CollectionAssert.AreEquivalent(new[] { "test VIDIOC_REQBUFS/CREATE_BUFS/QUERYBUF", "test MMAP (no poll)" }, failed);
        StringAssert.Contains(cli.Output, "v4l2-test-buffers.cpp, testReqBufs");
    }

    [TestMethod]
    public async Task A_back_end_that_never_listens_is_exit_code_4()
    {
        using var cli = SampleProcess.Start(Cli, "--exec", "exit 3");
        Assert.AreEqual(4, await cli.WaitForExitAsync(RunTimeout));
        StringAssert.Contains(cli.Error, "did not create");
    }

    [TestMethod]
    public async Task A_host_killed_mid_run_fails_the_remaining_tests_and_the_suite_still_ends()
    {
        var folder = Directory.CreateTempSubdirectory("vm-compliance-").FullName;
        try
        {
            var socket = Path.Combine(folder, "camera.sock");
            using var host = SampleProcess.Start(Host, "--socket", socket, "--fast", "--log-level", "Warning");
            await host.WaitForOutputAsync("listening on", TimeSpan.FromSeconds(30));
            var killAfter = ComplianceSuite.TestNames.ToList().IndexOf("test VIDIOC_G_FMT");
            var progress = new SynchronousProgress(step =>
            {
                if (step.Result is not null && step.Index == killAfter)
                {
                    host.Kill();
                }
            });
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var report = await ComplianceSuite.RunAsync(ComplianceTarget.VhostUser(socket), new ComplianceOptions { ConnectTimeout = TimeSpan.FromSeconds(2) }, progress);
            TestContext.WriteLine($"{report.TotalsLine} in {clock.Elapsed}");
            Assert.AreEqual(ComplianceSuite.TestNames.Count, report.Total, "every test ran");
            Assert.IsTrue(report.Tests.Take(killAfter + 1).All(t => t.Status != ComplianceStatus.Fail), "the tests before the kill passed");
            var after = report.Tests.Skip(killAfter + 1).ToArray();
            Assert.IsTrue(after.All(t => t.Status == ComplianceStatus.Fail), "every test after the kill fails");
            StringAssert.Contains(after[0].Failure, "cannot reach the device");
            Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(90), $"took {clock.Elapsed}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Reports on the suite's own thread (Progress&lt;T&gt; would post to the thread pool, after the next test started).</summary>
    private sealed class SynchronousProgress(Action<ComplianceProgress> report) : IProgress<ComplianceProgress>
    {
        public void Report(ComplianceProgress value) => report(value);
    }
}
