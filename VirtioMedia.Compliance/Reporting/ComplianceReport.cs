using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace VirtioMedia.Compliance.Reporting;

/// <summary>What a run of the suite found: every test's result, grouped as v4l2-compliance groups them, and the totals.</summary>
public sealed class ComplianceReport
{
    internal ComplianceReport(string target, string card, uint deviceCaps, IReadOnlyList<ComplianceTestResult> tests)
    {
        Target = target;
        Card = card;
        DeviceCaps = deviceCaps;
        Tests = tests;
    }

    /// <summary>The device under test (socket path or "in-process").</summary>
    public string Target { get; }

    /// <summary>The card name of the configuration space (empty when the device could not be reached).</summary>
    public string Card { get; }

    /// <summary>device_caps of the configuration space.</summary>
    public uint DeviceCaps { get; }

    /// <summary>Every test that ran, in order.</summary>
    public IReadOnlyList<ComplianceTestResult> Tests { get; }

    /// <summary>How many tests ran.</summary>
    public int Total => Tests.Count;

    /// <summary>Tests that passed or found the feature not supported (v4l2-compliance counts both as succeeded).</summary>
    public int Succeeded => Tests.Count(test => test.Status != ComplianceStatus.Fail);

    /// <summary>Tests that failed.</summary>
    public int Failed => Tests.Count(test => test.Status == ComplianceStatus.Fail);

    /// <summary>Warnings over all tests.</summary>
    public int Warnings => Tests.Sum(test => test.Warnings.Count);

    /// <summary>The closing line of v4l2-compliance: <c>Total: N, Succeeded: N, Failed: N, Warnings: N</c>.</summary>
    public string TotalsLine => $"Total: {Total}, Succeeded: {Succeeded}, Failed: {Failed}, Warnings: {Warnings}";

    /// <summary>The result of the test named <paramref name="name"/> (the first, for a name two groups share).</summary>
    public ComplianceTestResult this[string name] =>
        Tests.FirstOrDefault(test => test.Name == name) ?? throw new KeyNotFoundException($"no test named '{name}' ran");

    /// <summary>Writes the report as v4l2-compliance prints its own: a heading per group, a line per test, each failing
    /// rule and warning on its own line before the test's line, and the totals.</summary>
    public void WriteText(TextWriter output, bool verbose = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.WriteLine($"Compliance test for virtio-media device {Target}:");
        output.WriteLine($"\tCard type        : {Card}");
        output.WriteLine($"\tDevice Caps      : 0x{DeviceCaps:x8}");
        string? group = null;
        foreach (var test in Tests)
        {
            if (test.Group != group)
            {
                group = test.Group;
                output.WriteLine();
                output.WriteLine($"{group}:");
            }
            foreach (var warning in test.Warnings)
            {
                output.WriteLine($"\t\twarn: {warning}");
            }
            if (test.Failure is not null)
            {
                output.WriteLine($"\t\tfail: {test.Failure}");
            }
            if (verbose)
            {
                foreach (var note in test.Notes)
                {
                    output.WriteLine($"\t\tinfo: {note}");
                }
            }
            output.WriteLine($"\t{test.Name}: {test.StatusText}");
        }
        output.WriteLine();
        output.WriteLine(TotalsLine);
    }

    /// <summary>The report as indented JSON (target, card, device caps, totals, and each test with its status,
    /// failure, warnings, notes and duration in milliseconds).</summary>
    public string ToJson()
    {
        var document = new
        {
            target = Target,
            card = Card,
            deviceCaps = DeviceCaps,
            totals = new { total = Total, succeeded = Succeeded, failed = Failed, warnings = Warnings },
            tests = Tests.Select(test => new
            {
                group = test.Group,
                name = test.Name,
                status = test.StatusText,
                failure = test.Failure,
                warnings = test.Warnings,
                notes = test.Notes,
                milliseconds = Math.Round(test.Duration.TotalMilliseconds, 1),
            }),
        };
        return JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }
}
