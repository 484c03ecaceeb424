using VirtioMedia.Compliance.Reporting;

namespace VirtioMedia.Compliance;

/// <summary>Reported before each test starts (<see cref="Result"/> null) and after it ends.</summary>
/// <param name="Index">The test's position, from 0.</param>
/// <param name="Count">How many tests the run has.</param>
/// <param name="Name">The test's name.</param>
/// <param name="Result">The result, once the test ended.</param>
public sealed record ComplianceProgress(int Index, int Count, string Name, ComplianceTestResult? Result);
