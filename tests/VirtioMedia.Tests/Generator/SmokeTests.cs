using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.AbiDiff;
using VirtioMedia.Generator.Extraction;

namespace VirtioMedia.Tests.Generator;

[TestClass]
public sealed class SmokeTests
{
    [TestMethod]
    public void Linux61_parses_without_diagnostics()
    {
        var set = HeaderDirectories.LoadKernelSet(Path.Combine(Repository.AbiHeaders, "linux-6.1"), Path.Combine(Repository.AbiHeaders, "libc-shim"));
        var model = HeaderParser.Parse(set);
        Assert.AreEqual(0, model.Diagnostics.Count, string.Join("\n", model.Diagnostics.Select(d => d.Message)));
        Assert.AreEqual(82, model.Ioctls.Count);
    }
}
