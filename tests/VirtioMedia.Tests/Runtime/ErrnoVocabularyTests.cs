using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// The device side names errnos in one vocabulary, the constants generated from the kernel's errno headers
/// (<c>VirtioMedia.Abi.Constants</c>), as device handlers do: no alias, no constant of its own, no bare number.
/// </summary>
[TestClass]
public sealed partial class ErrnoVocabularyTests
{
    [TestMethod]
    public void Device_sources_name_errnos_only_through_the_generated_constants()
    {
        var device = Path.Combine(Repository.Root, "VirtioMedia.Runtime", "Device");
        var files = Directory.GetFiles(device, "*.cs");
        Assert.IsTrue(files.Length > 10, $"the Device sources at {device}");
        var offences = files
            .SelectMany(file => File.ReadLines(file).Select((line, index) => (File: Path.GetFileName(file), Line: index + 1, Text: line)))
            .Where(line => Alias().IsMatch(line.Text) || OwnConstant().IsMatch(line.Text) || BareStatus().IsMatch(line.Text))
            .Select(line => $"{line.File}:{line.Line}: {line.Text.Trim()}")
            .ToArray();
        Assert.AreEqual("", string.Join("\n", offences));
    }

    [GeneratedRegex(@"\bErrno\.E[A-Z0-9]+\b")]
    private static partial Regex Alias();

    [GeneratedRegex(@"\bconst\s+int\s+E[A-Z0-9]+\b")]
    private static partial Regex OwnConstant();

    [GeneratedRegex(@"WriteStatus\((?!0\))\d+\)")]
    private static partial Regex BareStatus();
}
