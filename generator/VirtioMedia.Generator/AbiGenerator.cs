using System;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using VirtioMedia.Generator.Emission;
using VirtioMedia.Generator.Extraction;
using VirtioMedia.Generator.Model;

namespace VirtioMedia.Generator;

/// <summary>
/// Generates the ABI of a set of C headers: the headers are <c>AdditionalFiles</c> carrying
/// <c>VirtioMediaIncludeRoot</c> metadata (see build/VirtioMedia.Generator.targets, which turns
/// <c>VirtioMediaHeaders</c> items into them).
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class AbiGenerator : IIncrementalGenerator
{
    /// <summary>Tracking name of the step that reads the headers.</summary>
    public const string HeadersStep = "VirtioMedia.Headers";

    /// <summary>Tracking name of the step that parses them with libclang.</summary>
    public const string ParseStep = "VirtioMedia.Parse";

    /// <summary>Tracking name of the step that resolves the trailer description against the model.</summary>
    public const string TrailersStep = "VirtioMedia.Trailers";

    private const string MetadataPrefix = "build_metadata.AdditionalFiles.";

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var headers = context.AdditionalTextsProvider
            .Combine(context.AnalyzerConfigOptionsProvider)
            .Select(static (pair, cancellationToken) => ReadHeader(pair.Left, pair.Right.GetOptions(pair.Left), cancellationToken))
            .Where(static header => header is not null)
            .Select(static (header, _) => header!)
            .Collect()
            .Select(static (headers, _) => headers.OrderBy(h => h.IncludePath, StringComparer.Ordinal).ToEquatableArray())
            .WithTrackingName(HeadersStep);

        var settings = context.AnalyzerConfigOptionsProvider.Select(static (options, _) =>
        {
            var global = options.GlobalOptions;
            return new GeneratorSettings(
                Read(global, "build_property.VirtioMediaNamespace") ?? HeaderSet.DefaultNamespace,
                Read(global, "build_property.VirtioMediaTarget") ?? HeaderSet.DefaultTarget,
                Read(global, "build_property.VirtioMediaLibClangPath"));
        });

        var models = headers
            .Combine(settings)
            .Select(static (input, cancellationToken) =>
            {
                var (files, settings) = input;
                if (files.Count == 0)
                {
                    return null;
                }
                cancellationToken.ThrowIfCancellationRequested();
                return HeaderParser.Parse(new HeaderSet(files, settings.Target, settings.Namespace), settings.LibClangPath);
            })
            .WithTrackingName(ParseStep);

        // The trailer description (at most one AdditionalFile with VirtioMediaTrailers="true"), resolved against the model.
        var trailerFiles = context.AdditionalTextsProvider
            .Combine(context.AnalyzerConfigOptionsProvider)
            .Where(static pair => string.Equals(Read(pair.Right.GetOptions(pair.Left), MetadataPrefix + "VirtioMediaTrailers"), "true", StringComparison.OrdinalIgnoreCase))
            .Select(static (pair, cancellationToken) => (Path: pair.Left.Path, Text: pair.Left.GetText(cancellationToken)?.ToString() ?? string.Empty))
            .Collect();
        var trailers = models
            .Combine(trailerFiles)
            .Select(static (input, _) =>
            {
                var (model, files) = input;
                if (model is null || files.Length == 0)
                {
                    return TrailerSetDesc.Empty;
                }
                if (files.Length > 1)
                {
                    return new TrailerSetDesc(EquatableArray<TrailerRuleDesc>.Empty, EquatableArray<string>.Empty,
                        new[] { new DiagnosticDesc(Diagnostics.TrailerRuleId, "trailers: more than one AdditionalFile has VirtioMediaTrailers=\"true\"", files[1].Path, 0) }.ToEquatableArray());
                }
                return TrailerRules.Resolve(files[0].Text, model, files[0].Path);
            })
            .WithTrackingName(TrailersStep);

        context.RegisterSourceOutput(models.Combine(trailers), static (output, input) =>
        {
            var (model, trailerSet) = input;
            if (model is null)
            {
                return;
            }
            var diagnostics = model.Diagnostics.Concat(trailerSet.Diagnostics).ToList();
            foreach (var diagnostic in diagnostics)
            {
                output.ReportDiagnostic(Diagnostic.Create(Diagnostics.Descriptor(diagnostic.Id), LocationOf(diagnostic), diagnostic.Message));
            }
            if (diagnostics.Any(d => Diagnostics.Descriptor(d.Id).DefaultSeverity == DiagnosticSeverity.Error))
            {
                return; // never emit a layout the generator is not sure of
            }
            foreach (var (hintName, text) in TemplateEmitter.Emit(model, trailerSet))
            {
                output.AddSource(hintName, SourceText.From(text, System.Text.Encoding.UTF8));
            }
        });
    }

    private static HeaderFile? ReadHeader(AdditionalText file, Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions options, System.Threading.CancellationToken cancellationToken)
    {
        var root = Read(options, MetadataPrefix + "VirtioMediaIncludeRoot");
        if (root is null)
        {
            return null; // an AdditionalFile that is not a header of ours
        }
        var text = file.GetText(cancellationToken)?.ToString() ?? string.Empty;
        var isEntry = string.Equals(Read(options, MetadataPrefix + "VirtioMediaEntry"), "true", StringComparison.OrdinalIgnoreCase);
        return new HeaderFile(IncludePath(file.Path, root), text, isEntry, file.Path);
    }

    /// <summary>The path a header is included as: its path below its include root, with forward slashes.</summary>
    public static string IncludePath(string path, string includeRoot)
    {
        var full = Path.GetFullPath(path).Replace('\\', '/');
        var root = Path.GetFullPath(includeRoot).Replace('\\', '/').TrimEnd('/') + "/";
        return full.StartsWith(root, StringComparison.Ordinal) ? full.Substring(root.Length) : Path.GetFileName(full);
    }

    private static string? Read(Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions options, string key) =>
        options.TryGetValue(key, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

    private static Location LocationOf(DiagnosticDesc diagnostic)
    {
        if (diagnostic.SourcePath.Length == 0)
        {
            return Location.None;
        }
        var line = Math.Max(0, diagnostic.Line - 1);
        return Location.Create(diagnostic.SourcePath, default, new LinePositionSpan(new LinePosition(line, 0), new LinePosition(line, 0)));
    }

    private sealed record GeneratorSettings(string Namespace, string Target, string? LibClangPath);
}
