using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Generator.Extraction;
using VirtioMedia.Generator.Interop;
using VirtioMedia.Generator.Model;
using GeneratorDiagnostics = VirtioMedia.Generator.Diagnostics;

namespace VirtioMedia.Tests.Generator;

/// <summary>
/// Headers the generator must refuse: each problem is an error diagnostic at the header's file and line,
/// and nothing at all is emitted, since a half-understood header must never yield a silently wrong layout.
/// </summary>
[TestClass]
public sealed class GeneratorDiagnosticTests
{
    private const string MissingLibrary = "/nonexistent/libclang-missing.so.1";

    [TestMethod]
    public void Syntax_error_is_VMG003_at_the_file_and_line_and_nothing_is_emitted()
    {
        // The error is in a header reached through an include, not in the entry.
        var inner = HeaderInput.InMemory("broken/inner.h", "#include <fixture/types.h>\n\nstruct fx_fine { __u32 a; };\nstruct fx_broken { __u32 a; undeclared_t b; };\n");
        var headers = WithFixture(
            HeaderInput.InMemory("broken/entry.h", "#include <broken/inner.h>\n", isEntry: true),
            inner);

        var model = Parse(headers);
        var diagnostic = model.Diagnostics.Single();
        Assert.AreEqual(GeneratorDiagnostics.HeaderErrorId, diagnostic.Id);
        Assert.AreEqual(inner.Path, diagnostic.SourcePath);
        Assert.AreEqual(4, diagnostic.Line);
        StringAssert.StartsWith(diagnostic.Message, "broken/inner.h:4: ");
        StringAssert.Contains(diagnostic.Message, "undeclared_t");
        Assert.AreEqual(0, model.Records.Count, "not even the records before the error");

        var run = GeneratorHarness.Run(headers);
        var reported = SingleError(run, GeneratorDiagnostics.HeaderErrorId);
        var span = reported.Location.GetLineSpan();
        Assert.AreEqual(inner.Path, span.Path);
        Assert.AreEqual(3, span.StartLinePosition.Line, "0-based line of line 4");
        AssertNothingEmitted(run);
    }

    [TestMethod]
    public void Bitfields_and_flexible_arrays_are_VMG004_and_so_is_every_record_embedding_them()
    {
        var header = HeaderInput.InMemory("unmappable/entry.h", string.Join("\n",
            "#include <fixture/types.h>",
            "struct fx_embeds_bits { __u32 before; struct fx_bits { __u32 low : 3; __u32 high : 29; } bits; };",
            "struct fx_flexible { __u32 count; __u32 items[]; };",
            "struct fx_zero_length { __u32 count; __u32 none[0]; };",
            "struct fx_embeds_embedder { struct fx_embeds_bits again[2]; };",
            "struct fx_points_to_bits { struct fx_bits *pointer; __u32 n; };",
            "struct fx_plain { __u32 a; };",
            string.Empty), isEntry: true);
        var headers = WithFixture(header);

        var model = Parse(headers);
        var messages = model.Diagnostics.Select(d => d.Message).ToList();
        Assert.IsTrue(model.Diagnostics.All(d => d.Id == GeneratorDiagnostics.UnmappableId && d.SourcePath == header.Path), string.Join("\n", messages));
        foreach (var (record, line, why) in new[]
        {
            ("struct fx_bits", 2, "bit-field"),
            ("struct fx_embeds_bits", 2, "fx_bits"),
            ("struct fx_flexible", 3, "flexible array member"),
            ("struct fx_zero_length", 4, "zero-length array"),
            ("struct fx_embeds_embedder", 5, "fx_embeds_bits"),
        })
        {
            var diagnostic = model.Diagnostics.SingleOrDefault(d => d.Message.Contains(record + ":"))
                ?? throw new AssertFailedException($"no VMG004 for {record}:\n{string.Join("\n", messages)}");
            Assert.AreEqual(line, diagnostic.Line, record);
            StringAssert.Contains(diagnostic.Message, why, record);
        }
        Assert.AreEqual(5, model.Diagnostics.Count, string.Join("\n", messages));
        // A pointer to an unmappable record is only an address: the record holding it is exact.
        CollectionAssert.AreEquivalent(new[] { "fx_plain", "fx_points_to_bits" }, model.Records.Select(r => r.Name).ToArray());

        var run = GeneratorHarness.Run(headers);
        Assert.AreEqual(5, run.GeneratorDiagnostics.Count(d => d.Id == GeneratorDiagnostics.UnmappableId && d.Severity == DiagnosticSeverity.Error));
        AssertNothingEmitted(run);
    }

    [TestMethod]
    public void Ioctl_whose_request_disagrees_with_its_payload_is_VMG005()
    {
        // 16392 bytes do not fit the 14-bit size field: the size that is left is 8 and the carry lands in
        // the direction bits, turning _IOR's read into read-write.
        const int hugeSize = 16392;
        const int sizeLeft = hugeSize & 0x3FFF;
        const int readWithCarry = (2 | (hugeSize >> 14)) & 3;
        var header = HeaderInput.InMemory("mismatch/entry.h", string.Join("\n",
            "#include <fixture/types.h>",
            "#include <fixture/ioctl.h>",
            "struct fx_huge { __u8 data[16392]; };",
            "struct fx_small { __u32 a; };",
            "#define FX_IOC_HUGE_RW _IOWR('F', 1, struct fx_huge)",
            "#define FX_IOC_HUGE_R _IOR('F', 2, struct fx_huge)",
            "#define FX_IOC_SMALL _IOW('F', 3, struct fx_small)",
            string.Empty), isEntry: true);
        var headers = WithFixture(header);

        var model = Parse(headers);
        Assert.AreEqual(2, model.Diagnostics.Count, string.Join("\n", model.Diagnostics.Select(d => d.Message)));
        Assert.IsTrue(model.Diagnostics.All(d => d.Id == GeneratorDiagnostics.IoctlMismatchId && d.SourcePath == header.Path));
        var size = model.Diagnostics.Single(d => d.Message.Contains("FX_IOC_HUGE_RW"));
        Assert.AreEqual(5, size.Line);
        StringAssert.Contains(size.Message, $"encodes a {sizeLeft}-byte payload but sizeof(struct fx_huge) is {hugeSize}");
        var direction = model.Diagnostics.Single(d => d.Message.Contains("FX_IOC_HUGE_R:"));
        Assert.AreEqual(6, direction.Line);
        StringAssert.Contains(direction.Message, $"encodes direction {readWithCarry}, expected 2");
        Assert.AreEqual("FX_IOC_SMALL", model.Ioctls.Single().Name);

        var run = GeneratorHarness.Run(headers);
        Assert.AreEqual(2, run.GeneratorDiagnostics.Count(d => d.Id == GeneratorDiagnostics.IoctlMismatchId));
        AssertNothingEmitted(run);
    }

    [TestMethod]
    public void Missing_libclang_is_VMG001_with_the_install_hint()
    {
        var model = HeaderParser.Parse(GeneratorHarness.ToHeaderSet(FixtureHeaders.Headers), MissingLibrary);
        var diagnostic = model.Diagnostics.Single();
        Assert.AreEqual(GeneratorDiagnostics.LibClangMissingId, diagnostic.Id);
        StringAssert.Contains(diagnostic.Message, MissingLibrary);
        StringAssert.Contains(diagnostic.Message, "apt-get install libclang1-14");
        StringAssert.Contains(diagnostic.Message, "VirtioMediaLibClangPath");
        Assert.AreEqual(0, model.Records.Count + model.Constants.Count + model.Ioctls.Count);

        var run = GeneratorHarness.Run(FixtureHeaders.Headers, new GeneratorSettings(LibClangPath: MissingLibrary));
        var reported = SingleError(run, GeneratorDiagnostics.LibClangMissingId);
        StringAssert.Contains(reported.GetMessage(), "apt-get install libclang1-14");
        Assert.AreEqual(Location.None, reported.Location);
        AssertNothingEmitted(run);

        // The library that is bound stays usable: a wrong path is reported, not remembered.
        Assert.AreEqual(0, Parse(FixtureHeaders.Headers).Diagnostics.Count);
    }

    [TestMethod]
    public void Clang_major_version_is_read_from_the_version_string()
    {
        Assert.AreEqual(14, LibClang.ParseMajorVersion("Debian clang version 14.0.6"));
        Assert.AreEqual(18, LibClang.ParseMajorVersion("Ubuntu clang version 18.1.3 (1ubuntu1)"));
        Assert.AreEqual(9, LibClang.ParseMajorVersion("clang version 9.0.1-12"));
        Assert.AreEqual(15, LibClang.ParseMajorVersion("Apple clang version 15.0.0 (clang-1500.3.9.4)"));
        Assert.AreEqual(0, LibClang.ParseMajorVersion(string.Empty));
        Assert.AreEqual(0, LibClang.ParseMajorVersion("clang version unknown"));

        var status = LibClang.Load(null);
        Assert.IsTrue(status.IsLoaded, status.Detail);
        Assert.IsTrue(LibClang.ParseMajorVersion(status.Detail) >= LibClang.MinimumMajorVersion, status.Detail);
    }

    /// <summary>The fixture's headers (types, ioctl encoding, ...) as non-entries, plus <paramref name="headers"/>.</summary>
    private static IReadOnlyList<HeaderInput> WithFixture(params HeaderInput[] headers) =>
        HeaderInput.FromDirectory(GeneratorHarness.FixtureRoot).Concat(headers).ToList();

    private static AbiModel Parse(IReadOnlyList<HeaderInput> headers) => HeaderParser.Parse(GeneratorHarness.ToHeaderSet(headers));

    private static Diagnostic SingleError(GeneratorRun run, string id)
    {
        var diagnostic = run.GeneratorDiagnostics.Single();
        Assert.AreEqual(id, diagnostic.Id, diagnostic.ToString());
        Assert.AreEqual(DiagnosticSeverity.Error, diagnostic.Severity);
        return diagnostic;
    }

    private static void AssertNothingEmitted(GeneratorRun run)
    {
        Assert.AreEqual(0, run.Result.Results.Single().GeneratedSources.Length, "no source at all");
        Assert.AreEqual(0, run.CompilationProblems.Count, string.Join("\n", run.CompilationProblems));
    }
}
