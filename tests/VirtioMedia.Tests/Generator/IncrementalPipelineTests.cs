using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Generator;

namespace VirtioMedia.Tests.Generator;

/// <summary>
/// The generator as an incremental pipeline: libclang runs again only when a header changes, and its output
/// depends on the header texts alone, not on the machine or the run.
/// </summary>
[TestClass]
public sealed class IncrementalPipelineTests
{
    private static readonly IncrementalStepRunReason[] Reused = { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged };

    [TestMethod]
    public void Unrelated_source_edit_reuses_the_parse_and_a_header_edit_redoes_it()
    {
        var headers = FixtureHeaders.Headers;
        var compilation = GeneratorHarness.ConsumerCompilation();
        var texts = headers.Select(GeneratorHarness.ToAdditionalText).ToList();
        var driver = GeneratorHarness.CreateDriver(headers, new GeneratorSettings(Namespace: FixtureHeaders.Namespace), trackSteps: true, texts);
        var recordsAt = headers.ToList().FindIndex(h => h.IncludePath == "fixture/records.h");

        driver = driver.RunGenerators(compilation);
        CollectionAssert.AreEqual(new[] { IncrementalStepRunReason.New }, ParseReasons(driver));
        var firstSources = Sources(driver);
        Assert.IsTrue(firstSources.Count > 0);

        // A C# edit in the consumer: the headers step and the parse are reused, the sources are the same.
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Consumer;\n\ninternal sealed class Unrelated\n{\n}\n", GeneratorHarness.ParseOptions));
        driver = driver.RunGenerators(edited);
        AssertReused(driver, AbiGenerator.HeadersStep);
        AssertReused(driver, AbiGenerator.ParseStep);
        CollectionAssert.AreEqual(firstSources, Sources(driver));

        // A comment at the end of an existing line changes the text but not the model: parsed again, output unchanged.
        var records = headers[recordsAt];
        var commented = records with { Text = records.Text.Replace("union fx_union {", "union fx_union { /* edited */") };
        driver = Replace(driver, texts, recordsAt, commented);
        driver = driver.RunGenerators(edited);
        CollectionAssert.AreEqual(new[] { IncrementalStepRunReason.Unchanged }, ParseReasons(driver));

        // A real edit: the parse runs again and the new field is generated.
        var changed = commented with { Text = commented.Text.Replace("\t__u32 tail;\n", "\t__u32 tail;\n\t__u32 added_by_edit;\n") };
        Assert.AreNotEqual(commented.Text, changed.Text);
        driver = Replace(driver, texts, recordsAt, changed);
        driver = driver.RunGenerators(edited);
        CollectionAssert.AreEqual(new[] { IncrementalStepRunReason.Modified }, ParseReasons(driver));
        StringAssert.Contains(Sources(driver).Single(s => s.Key.EndsWith("Records.g.cs", StringComparison.Ordinal)).Value, "public uint added_by_edit;");
    }

    [TestMethod]
    public void Output_of_the_toolkit_headers_is_identical_across_runs_and_holds_no_machine_path()
    {
        var headers = GeneratorHarness.ToolkitHeaders();
        var first = GeneratorHarness.Run(headers);
        var second = GeneratorHarness.Run(headers);

        Assert.AreEqual(0, first.GeneratorDiagnostics.Length, string.Join("\n", first.GeneratorDiagnostics));
        var a = first.Sources;
        var b = second.Sources;
        CollectionAssert.AreEqual(a.Keys.ToList(), b.Keys.ToList());
        foreach (var (name, text) in a)
        {
            Assert.AreEqual(text, b[name], name);
            foreach (var forbidden in new[] { Repository.Root.TrimEnd('/'), "/work/", "/tmp/", "/virtio-media-abi/", "\r" })
            {
                Assert.IsFalse(text.Contains(forbidden, StringComparison.Ordinal), $"{name} contains '{forbidden}'");
            }
        }
        Assert.IsTrue(a.Keys.Any(k => k.EndsWith("Records.g.cs", StringComparison.Ordinal)));
    }

    private static IncrementalStepRunReason[] ParseReasons(GeneratorDriver driver) =>
        driver.GetRunResult().Results.Single().TrackedSteps[AbiGenerator.ParseStep]
            .SelectMany(step => step.Outputs)
            .Select(output => output.Reason)
            .ToArray();

    private static void AssertReused(GeneratorDriver driver, string stepName)
    {
        var reasons = driver.GetRunResult().Results.Single().TrackedSteps[stepName]
            .SelectMany(step => step.Outputs)
            .Select(output => output.Reason)
            .ToList();
        Assert.IsTrue(reasons.Count > 0, stepName);
        Assert.IsTrue(reasons.All(r => Reused.Contains(r)), $"{stepName}: {string.Join(", ", reasons)}");
    }

    private static Dictionary<string, string> Sources(GeneratorDriver driver) =>
        driver.GetRunResult().Results.Single().GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());

    /// <summary>Swaps one header's AdditionalText for a new text, as an IDE does on an edit.</summary>
    private static GeneratorDriver Replace(GeneratorDriver driver, List<AdditionalText> texts, int index, HeaderInput edited)
    {
        var replacement = GeneratorHarness.ToAdditionalText(edited);
        driver = driver.ReplaceAdditionalText(texts[index], replacement);
        texts[index] = replacement;
        return driver;
    }
}
