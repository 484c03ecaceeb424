using System;
using System.Collections.Generic;
using System.Linq;
using VirtioMedia.Generator.Extraction;
using VirtioMedia.Generator.Model;

namespace VirtioMedia.Tests.Generator;

/// <summary>The fixture headers under Generator/Headers, parsed and generated once per test run.</summary>
internal static class FixtureHeaders
{
    public const string Namespace = "Fixture.Abi";

    private static readonly Lazy<IReadOnlyList<HeaderInput>> LazyHeaders = new(() =>
        HeaderInput.FromDirectory(GeneratorHarness.FixtureRoot, "fixture/records.h", "fixture/enums.h", "fixture/macros.h"));

    private static readonly Lazy<AbiModel> LazyModel = new(() =>
        HeaderParser.Parse(GeneratorHarness.ToHeaderSet(Headers, @namespace: Namespace)));

    private static readonly Lazy<GeneratorRun> LazyRun = new(() =>
        GeneratorHarness.Run(Headers, new GeneratorSettings(Namespace: Namespace)));

    public static IReadOnlyList<HeaderInput> Headers => LazyHeaders.Value;

    /// <summary>The parser's model of the fixture.</summary>
    public static AbiModel Model => LazyModel.Value;

    /// <summary>The generator's output for the fixture, compiled.</summary>
    public static GeneratorRun Run => LazyRun.Value;

    public static RecordDesc Record(string name) =>
        Model.Records.SingleOrDefault(r => r.Name == name)
        ?? throw new InvalidOperationException($"no record {name}; records: {string.Join(", ", Model.Records.Select(r => r.Name))}");

    public static FieldDesc Field(string record, string field) =>
        Record(record).Fields.SingleOrDefault(f => f.Name == field)
        ?? throw new InvalidOperationException($"{record} has no field {field}");

    /// <summary>A type of the compiled fixture output.</summary>
    public static Type GeneratedType(string name) =>
        Run.Assembly.GetType(Namespace + "." + name) ?? throw new InvalidOperationException($"type {name} was not generated");

    /// <summary>The line of a header that defines a macro, found in the header's text (1-based).</summary>
    public static int LineOfDefine(string includePath, string macro)
    {
        var lines = Headers.Single(h => h.IncludePath == includePath).Text.Split('\n');
        return Array.FindIndex(lines, l => l.StartsWith("#define " + macro + " ", StringComparison.Ordinal)) + 1;
    }
}
