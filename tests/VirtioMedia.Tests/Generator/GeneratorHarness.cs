using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Numerics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using VirtioMedia.Generator;
using VirtioMedia.Generator.Model;

namespace VirtioMedia.Tests.Generator;

/// <summary>A header handed to the generator: where it lives, the folder it is included from, and its text.</summary>
internal sealed record HeaderInput(string Path, string IncludeRoot, bool IsEntry, string Text)
{
    /// <summary>A header that exists only in memory, under a made-up root no machine has.</summary>
    public static HeaderInput InMemory(string includePath, string text, bool isEntry = false) =>
        new(InMemoryRoot + includePath, InMemoryRoot, isEntry, text);

    public const string InMemoryRoot = "/in-memory-headers/";

    /// <summary>Every <c>*.h</c> below <paramref name="root"/>; <paramref name="entries"/> are include paths.</summary>
    public static IReadOnlyList<HeaderInput> FromDirectory(string root, params string[] entries)
    {
        var fullRoot = System.IO.Path.GetFullPath(root).TrimEnd('/') + "/";
        return Directory.EnumerateFiles(fullRoot, "*.h", SearchOption.AllDirectories)
            .Select(file => (File: file, IncludePath: System.IO.Path.GetRelativePath(fullRoot, file).Replace('\\', '/')))
            .OrderBy(h => h.IncludePath, StringComparer.Ordinal)
            .Select(h => new HeaderInput(h.File, fullRoot, entries.Contains(h.IncludePath), File.ReadAllText(h.File)))
            .ToList();
    }

    public string IncludePath => AbiGenerator.IncludePath(Path, IncludeRoot);
}

/// <summary>The generator's global settings (MSBuild properties), null for the default.</summary>
internal sealed record GeneratorSettings(string? Namespace = null, string? Target = null, string? LibClangPath = null);

/// <summary>Runs <see cref="AbiGenerator"/> the way the compiler does, and the parser directly.</summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    /// <summary>The fixture headers of these tests (tests/VirtioMedia.Tests/Generator/Headers).</summary>
    public static string FixtureRoot => Path.Combine(Repository.Root, "tests", "VirtioMedia.Tests", "Generator", "Headers");

    /// <summary>The headers VirtioMedia.Generated is built from (see its csproj).</summary>
    public static IReadOnlyList<HeaderInput> ToolkitHeaders(string? kernelHeaders = null) =>
        HeaderInput.FromDirectory(kernelHeaders ?? Path.Combine(Repository.AbiHeaders, "linux-6.1"), "linux/videodev2.h")
            .Concat(HeaderInput.FromDirectory(Path.Combine(Repository.AbiHeaders, "libc-shim")))
            .Concat(HeaderInput.FromDirectory(Path.Combine(Repository.AbiHeaders, "virtio-media"), "virtio_media.h"))
            .ToList();

    /// <summary>The headers as the parser takes them, ordered by include path as the generator orders them.</summary>
    public static HeaderSet ToHeaderSet(IEnumerable<HeaderInput> headers, string target = HeaderSet.DefaultTarget, string @namespace = HeaderSet.DefaultNamespace) =>
        new(headers.Select(h => new HeaderFile(h.IncludePath, h.Text, h.IsEntry, h.Path))
                .OrderBy(h => h.IncludePath, StringComparer.Ordinal)
                .ToEquatableArray(),
            target,
            @namespace);

    public static AdditionalText ToAdditionalText(HeaderInput header) => new InMemoryAdditionalText(header.Path, header.Text);

    /// <summary>A driver over the headers, each an AdditionalFile with the metadata the build targets give it.</summary>
    /// <param name="texts">The AdditionalText of each header, when the caller keeps them to replace one later.</param>
    public static GeneratorDriver CreateDriver(IReadOnlyList<HeaderInput> headers, GeneratorSettings? settings = null, bool trackSteps = false, IReadOnlyList<AdditionalText>? texts = null)
    {
        return CSharpGeneratorDriver.Create(
            new[] { new AbiGenerator().AsSourceGenerator() },
            texts ?? headers.Select(ToAdditionalText).ToList(),
            ParseOptions,
            new OptionsProvider(headers, settings ?? new GeneratorSettings()),
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));
    }

    /// <summary>A consumer compilation with nothing in it but one unrelated type.</summary>
    public static CSharpCompilation ConsumerCompilation(string name = "Consumer") => CSharpCompilation.Create(
        name,
        new[] { CSharpSyntaxTree.ParseText("namespace Consumer;\n\ninternal static class Marker\n{\n}\n", ParseOptions) },
        FrameworkReferences.Value,
        new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, deterministic: true));

    /// <summary>Runs the generator once over the headers and compiles what it emits.</summary>
    public static GeneratorRun Run(IReadOnlyList<HeaderInput> headers, GeneratorSettings? settings = null)
    {
        var driver = CreateDriver(headers, settings).RunGeneratorsAndUpdateCompilation(ConsumerCompilation(), out var output, out var generatorDiagnostics);
        return new GeneratorRun(driver.GetRunResult(), output, generatorDiagnostics);
    }

    /// <summary>The size the runtime gives a type (Unsafe.SizeOf, which honours StructLayout Size and Pack).</summary>
    public static int SizeOf(Type type) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;

    /// <summary>The [FieldOffset] a compiled struct declares for a field, or null when it has no such field.</summary>
    public static int? OffsetOf(Type type, string field) =>
        type.GetField(field, BindingFlags.Public | BindingFlags.Instance)?.GetCustomAttribute<FieldOffsetAttribute>()?.Value;

    /// <summary>The value of a C# integer literal as the generator writes them (decimal, or 0x hexadecimal).</summary>
    public static BigInteger ValueOf(string literal) =>
        literal.StartsWith("0x", StringComparison.Ordinal)
            ? BigInteger.Parse("0" + literal.Substring(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)
            : BigInteger.Parse(literal, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    /// <summary>The value of a constant field or enum member of the compiled output.</summary>
    public static BigInteger ValueOf(FieldInfo constant) => constant.GetRawConstantValue() switch
    {
        long value => value,
        ulong value => value,
        int value => value,
        uint value => value,
        short value => value,
        ushort value => value,
        sbyte value => value,
        byte value => value,
        var other => throw new InvalidOperationException($"{constant.Name} is a {other?.GetType().Name ?? "null"}"),
    };

    /// <summary>The framework assemblies of the running runtime, which has InlineArray.</summary>
    private static readonly Lazy<IReadOnlyList<MetadataReference>> FrameworkReferences = new(() =>
    {
        var runtimeDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        return ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Where(path => string.Equals(Path.GetDirectoryName(path), runtimeDirectory, StringComparison.Ordinal))
            .OrderBy(path => path, StringComparer.Ordinal)
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToList();
    });

    private sealed class InMemoryAdditionalText : AdditionalText
    {
        private readonly SourceText _text;

        public InMemoryAdditionalText(string path, string text)
        {
            Path = path;
            _text = SourceText.From(text);
        }

        public override string Path { get; }

        public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
    }

    private sealed class OptionsProvider : AnalyzerConfigOptionsProvider
    {
        private readonly Dictionary<string, AnalyzerConfigOptions> _byPath;

        public OptionsProvider(IEnumerable<HeaderInput> headers, GeneratorSettings settings)
        {
            _byPath = headers.ToDictionary(
                h => h.Path,
                h => (AnalyzerConfigOptions)new Options(new Dictionary<string, string>
                {
                    ["build_metadata.AdditionalFiles.VirtioMediaIncludeRoot"] = h.IncludeRoot,
                    // MSBuild hands unset metadata over as an empty string.
                    ["build_metadata.AdditionalFiles.VirtioMediaEntry"] = h.IsEntry ? "true" : string.Empty,
                }),
                StringComparer.Ordinal);
            var global = new Dictionary<string, string>();
            if (settings.Namespace is not null)
            {
                global["build_property.VirtioMediaNamespace"] = settings.Namespace;
            }
            if (settings.Target is not null)
            {
                global["build_property.VirtioMediaTarget"] = settings.Target;
            }
            if (settings.LibClangPath is not null)
            {
                global["build_property.VirtioMediaLibClangPath"] = settings.LibClangPath;
            }
            GlobalOptions = new Options(global);
        }

        public override AnalyzerConfigOptions GlobalOptions { get; }

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Options.Empty;

        // An AdditionalFile that is not one of the headers (another tool's file) has no metadata.
        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) =>
            _byPath.TryGetValue(textFile.Path, out var options) ? options : Options.Empty;
    }

    private sealed class Options : AnalyzerConfigOptions
    {
        public static readonly Options Empty = new(new Dictionary<string, string>());

        private readonly Dictionary<string, string> _values;

        public Options(Dictionary<string, string> values) => _values = values;

        public override bool TryGetValue(string key, out string value)
        {
            var found = _values.TryGetValue(key, out var stored);
            value = stored ?? string.Empty;
            return found;
        }
    }
}

/// <summary>What one generator run produced: its sources, its diagnostics, and the compilation that includes them.</summary>
internal sealed class GeneratorRun
{
    private readonly Lazy<Assembly> _assembly;

    public GeneratorRun(GeneratorDriverRunResult result, Compilation output, ImmutableArray<Diagnostic> generatorDiagnostics)
    {
        Result = result;
        Output = output;
        GeneratorDiagnostics = generatorDiagnostics;
        _assembly = new Lazy<Assembly>(Load);
    }

    public GeneratorDriverRunResult Result { get; }

    public Compilation Output { get; }

    public ImmutableArray<Diagnostic> GeneratorDiagnostics { get; }

    /// <summary>The generated files by hint name.</summary>
    public IReadOnlyDictionary<string, string> Sources => Result.Results.Single().GeneratedSources
        .ToDictionary(s => s.HintName, s => s.SourceText.ToString(), StringComparer.Ordinal);

    /// <summary>The text of the generated file whose hint name ends with <paramref name="suffix"/> (Records.g.cs).</summary>
    public string Source(string suffix) => Sources.Single(s => s.Key.EndsWith(suffix, StringComparison.Ordinal)).Value;

    /// <summary>The compiler's warnings and errors over the consumer plus the generated code.</summary>
    public IReadOnlyList<Diagnostic> CompilationProblems => Output.GetDiagnostics()
        .Where(d => d.Severity >= DiagnosticSeverity.Warning)
        .ToList();

    /// <summary>The compiled output, loaded in a context of its own.</summary>
    public Assembly Assembly => _assembly.Value;

    private Assembly Load()
    {
        using var image = new MemoryStream();
        var emitted = Output.Emit(image);
        if (!emitted.Success)
        {
            throw new InvalidOperationException(string.Join(Environment.NewLine, emitted.Diagnostics));
        }
        image.Position = 0;
        return new AssemblyLoadContext(Output.AssemblyName, isCollectible: true).LoadFromStream(image);
    }
}
