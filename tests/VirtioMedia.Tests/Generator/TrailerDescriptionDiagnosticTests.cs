using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Generator;

namespace VirtioMedia.Tests.Generator;

/// <summary>
/// A trailer description that is not valid JSON, or that names what the headers do not have, stops the generator
/// with VMG009 (an error whose message says where and what) and no emitted source: a wire table the generator is
/// not sure of must not compile into the toolkit.
/// </summary>
[TestClass]
public sealed class TrailerDescriptionDiagnosticTests
{
    private const string TrailersPath = "/in-memory-trailers/trailers.json";

    private static readonly Lazy<string> RealDescription = new(() =>
        File.ReadAllText(Path.Combine(Repository.AbiHeaders, "virtio-media", "trailers.json")));

    private static GeneratorDriverRunResult Run(string trailers)
    {
        var headers = GeneratorHarness.ToolkitHeaders();
        var texts = headers.Select(GeneratorHarness.ToAdditionalText).Append(new Text(TrailersPath, trailers)).ToList();
        var driver = CSharpGeneratorDriver.Create(
            new[] { new AbiGenerator().AsSourceGenerator() },
            texts,
            GeneratorHarness.ParseOptions,
            new Provider(headers));
        return driver.RunGenerators(GeneratorHarness.ConsumerCompilation()).GetRunResult();
    }

    [TestMethod]
    public void The_real_description_emits_the_trailer_table()
    {
        // The control for the cases below: the same run with the committed description emits every file.
        var result = Run(RealDescription.Value);
        Assert.IsFalse(result.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error), string.Join("\n", result.Diagnostics));
        Assert.IsTrue(result.Results.Single().GeneratedSources.Any(s => s.HintName.EndsWith(".Trailers.g.cs", StringComparison.Ordinal)));
    }

    [TestMethod]
    [DataRow("{ \"payloads\": [ { \"struct\": \"v4l2_buffer\" ", "line 1: expected '}'", DisplayName = "truncated JSON")]
    [DataRow("m.planes|m.nosuch", "v4l2_buffer_m has no field 'nosuch'", DisplayName = "unknown pointer field")]
    [DataRow("\"field\": \"m.fd\"|\"field\": \"timestamp\"", "a preserved field must be 4 or 8 bytes wide, not 16", DisplayName = "preserved field of the wrong width")]
    [DataRow("\"elementField\": \"m.fd\"|\"elementField\": \"m.nosuch\"", "v4l2_plane_m has no field 'nosuch'", DisplayName = "unknown preserved element field")]
    [DataRow("\"maxCount\": 8|\"maxCount\": 0", "maxCount must be an integer in 1..65536", DisplayName = "zero maxCount")]
    [DataRow("VIDIOC_LOG_STATUS|VIDIOC_NO_SUCH", "'VIDIOC_NO_SUCH' is not an ioctl of the headers", DisplayName = "unknown unsupported ioctl")]
    [DataRow("\"parts\": \"readable\"|\"parts\": \"both\"", "parts: must be \"readable\" or \"payload\"", DisplayName = "bad parts")]
    public void Malformed_description_is_vmg009_and_emits_nothing(string edit, string expected)
    {
        string trailers;
        if (edit.Contains('|', StringComparison.Ordinal))
        {
            var (from, to) = (edit.Split('|')[0], edit.Split('|')[1]);
            Assert.IsTrue(RealDescription.Value.Contains(from, StringComparison.Ordinal), $"the description no longer has {from}");
            trailers = RealDescription.Value.Replace(from, to, StringComparison.Ordinal);
        }
        else
        {
            trailers = edit;
        }
        var result = Run(trailers);
        var vmg009 = result.Diagnostics.Where(d => d.Id == "VMG009").ToList();
        Assert.IsTrue(vmg009.Count > 0, "no VMG009: " + string.Join("\n", result.Diagnostics));
        Assert.IsTrue(vmg009.All(d => d.Severity == DiagnosticSeverity.Error));
        Assert.IsTrue(vmg009.Any(d => d.GetMessage().Contains(expected, StringComparison.Ordinal)),
            $"no message with \"{expected}\": " + string.Join("\n", vmg009.Select(d => d.GetMessage())));
        Assert.IsTrue(vmg009.All(d => d.GetMessage().StartsWith("trailers: ", StringComparison.Ordinal)));
        Assert.AreEqual(TrailersPath, vmg009[0].Location.GetLineSpan().Path);
        Assert.AreEqual(0, result.Results.Single().GeneratedSources.Length, "sources emitted despite VMG009");
    }

    private sealed class Text(string path, string text) : AdditionalText
    {
        private readonly SourceText _text = SourceText.From(text);

        public override string Path { get; } = path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
    }

    /// <summary>The metadata the build targets give: include roots for headers, VirtioMediaTrailers for the description.</summary>
    private sealed class Provider(IReadOnlyList<HeaderInput> headers) : AnalyzerConfigOptionsProvider
    {
        private readonly Dictionary<string, AnalyzerConfigOptions> _byPath = headers.ToDictionary(
            h => h.Path,
            h => (AnalyzerConfigOptions)new Options(new Dictionary<string, string>
            {
                ["build_metadata.AdditionalFiles.VirtioMediaIncludeRoot"] = h.IncludeRoot,
                ["build_metadata.AdditionalFiles.VirtioMediaEntry"] = h.IsEntry ? "true" : string.Empty,
            }));

        public override AnalyzerConfigOptions GlobalOptions { get; } = new Options(new Dictionary<string, string>());

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => GlobalOptions;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) =>
            textFile.Path == TrailersPath
                ? new Options(new Dictionary<string, string> { ["build_metadata.AdditionalFiles.VirtioMediaTrailers"] = "true" })
                : _byPath.TryGetValue(textFile.Path, out var options) ? options : GlobalOptions;
    }

    private sealed class Options(Dictionary<string, string> values) : AnalyzerConfigOptions
    {
        public override bool TryGetValue(string key, out string value)
        {
            var found = values.TryGetValue(key, out var stored);
            value = stored ?? string.Empty;
            return found;
        }
    }
}
