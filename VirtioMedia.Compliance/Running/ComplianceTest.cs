using System;
using System.Threading.Tasks;

namespace VirtioMedia.Compliance.Running;

/// <summary>One test: its group heading, its v4l2-compliance name, and its body.</summary>
/// <param name="Group">The heading it is printed under.</param>
/// <param name="Name">The line v4l2-compliance prints for it.</param>
/// <param name="Streaming">Whether it streams (skipped without <see cref="ComplianceOptions.Streaming"/>).</param>
/// <param name="RunAsync">The checks; throwing <see cref="ComplianceFailure"/> fails it, <see cref="NotSupportedByDevice"/> makes it "Not Supported".</param>
internal sealed record ComplianceTest(string Group, string Name, bool Streaming, Func<ComplianceContext, Task> RunAsync)
{
    /// <summary>Whether the test drives the command queue itself instead of through a driver endpoint.</summary>
    public bool Raw { get; init; }
}
