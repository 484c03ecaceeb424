using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using VirtioMedia.Generator.Interop;
using VirtioMedia.Generator.Model;
using static VirtioMedia.Generator.Interop.LibClang;

namespace VirtioMedia.Generator.Extraction;

/// <summary>
/// Turns a header set into an <see cref="AbiModel"/> through libclang. The model holds no native handle:
/// everything is copied out before the translation units are disposed.
/// </summary>
/// <remarks>Split by concern: records (.Records.cs), enums (.Enums.cs), macros, constants and ioctls
/// (.Macros.cs), C to C# types (.TypeMapping.cs).</remarks>
public sealed unsafe partial class HeaderParser
{
    private const string EntryFileName = "__entry.c";
    private const string ProbeFileName = "__probe.c";

    // libclang is thread-safe across indexes in principle; one parse at a time keeps the compiler
    // server's memory bounded when several projects build at once.
    private static readonly object ParseGate = new();

    private readonly HeaderSet _set;
    private readonly Dictionary<string, HeaderFile> _headersByVirtualPath;
    private readonly List<DiagnosticDesc> _diagnostics = new();

    private HeaderParser(HeaderSet set)
    {
        _set = set;
        _headersByVirtualPath = set.Headers.ToDictionary(h => TranslationUnit.VirtualRoot + h.IncludePath, StringComparer.Ordinal);
    }

    /// <summary>Parses a header set. Problems are returned as diagnostics in the model, never thrown.</summary>
    /// <param name="set">The headers and target.</param>
    /// <param name="libClangPath">A libclang to load instead of the default candidates, or null.</param>
    public static AbiModel Parse(HeaderSet set, string? libClangPath = null)
    {
        var status = LibClang.Load(libClangPath);
        if (!status.IsLoaded)
        {
            return Failed(set, status.IsTooOld
                ? new DiagnosticDesc(Diagnostics.LibClangTooOldId,
                    $"libclang '{status.Library}' reports '{status.Detail}'; version {MinimumMajorVersion} or newer is required. Install libclang1-14 (apt-get install libclang1-14) or set the MSBuild property VirtioMediaLibClangPath to a newer library.",
                    string.Empty, 0)
                : new DiagnosticDesc(Diagnostics.LibClangMissingId,
                    $"libclang could not be loaded ({status.Detail}). Install libclang1-14 (apt-get install libclang1-14) or set the MSBuild property VirtioMediaLibClangPath to the library's path.",
                    string.Empty, 0));
        }

        lock (ParseGate)
        {
            return new HeaderParser(set).Run();
        }
    }

    private static AbiModel Failed(HeaderSet set, params DiagnosticDesc[] diagnostics) => new(
        set.Namespace,
        EquatableArray<RecordDesc>.Empty,
        EquatableArray<EnumDesc>.Empty,
        EquatableArray<ConstantDesc>.Empty,
        EquatableArray<IoctlDesc>.Empty,
        EquatableArray<int>.Empty,
        EquatableArray<MacroNote>.Empty,
        diagnostics.ToEquatableArray());

    private AbiModel Run()
    {
        var entries = _set.Headers.Where(h => h.IsEntry).ToList();
        if (entries.Count == 0)
        {
            return Failed(_set, new DiagnosticDesc(Diagnostics.NoEntryHeaderId,
                "No header is marked as an entry (VirtioMediaHeaders item metadata Entry=\"true\"): nothing is generated.",
                string.Empty, 0));
        }

        var includes = IncludeLines(entries);
        using var unit = TranslationUnit.Parse(_set, EntryFileName, includes, detailedPreprocessing: true, errorLimit: 0, out var errorCode);
        if (errorCode != 0)
        {
            return Failed(_set, new DiagnosticDesc(Diagnostics.ParseFailedId, $"libclang failed to parse the header set (CXErrorCode {errorCode}).", string.Empty, 0));
        }

        // A header clang cannot read completely is never half-generated.
        foreach (var (file, line, message) in unit.Errors())
        {
            _diagnostics.Add(new DiagnosticDesc(Diagnostics.HeaderErrorId, $"{Describe(file, line)}: {message}", SourcePathOf(file), line));
        }
        if (_diagnostics.Count > 0)
        {
            return Failed(_set, _diagnostics.ToArray());
        }

        var topLevel = Children(unit.Cursor).Where(c => HeaderOf(c) is not null).ToList();
        CollectTypedefNames(topLevel);
        var macros = new List<CXCursor>();
        foreach (var cursor in topLevel)
        {
            switch (cursor.kind)
            {
                case CXCursorKind.CXCursor_StructDecl:
                case CXCursorKind.CXCursor_UnionDecl:
                    if (clang_isCursorDefinition(cursor) != 0 && NameOf(cursor) is { } recordName)
                    {
                        EnsureRecord(cursor, recordName, NativeRecordName(cursor, recordName));
                    }
                    break;
                case CXCursorKind.CXCursor_EnumDecl:
                    if (clang_isCursorDefinition(cursor) != 0)
                    {
                        AddEnum(cursor, NameOf(cursor));
                    }
                    break;
                case CXCursorKind.CXCursor_MacroDefinition:
                    macros.Add(cursor);
                    break;
            }
        }

        var macroValues = EvaluateMacros(unit, macros, includes);
        CheckNameClashes();

        return new AbiModel(
            _set.Namespace,
            _records.Values.Where(r => r is not null).Select(r => r!).OrderBy(r => r.Name, StringComparer.Ordinal).ToEquatableArray(),
            _enums.Values.OrderBy(e => e.Name, StringComparer.Ordinal).ToEquatableArray(),
            MergeConstants(macroValues.Constants).ToEquatableArray(),
            macroValues.Ioctls.OrderBy(i => i.Number).ThenBy(i => i.Name, StringComparer.Ordinal).ToEquatableArray(),
            _arrayLengths.OrderBy(n => n).ToEquatableArray(),
            macroValues.Skipped.OrderBy(m => m.Name, StringComparer.Ordinal).ToEquatableArray(),
            _diagnostics.ToEquatableArray());
    }

    private static string IncludeLines(IEnumerable<HeaderFile> entries)
    {
        var text = new StringBuilder();
        foreach (var entry in entries)
        {
            text.Append("#include <").Append(entry.IncludePath).Append(">\n");
        }
        return text.ToString();
    }

    /// <summary>The include path of the header a cursor is spelled in, or null outside the set.</summary>
    private string? HeaderOf(CXCursor cursor)
    {
        var (file, _) = FileAndLine(clang_getCursorLocation(cursor));
        return _headersByVirtualPath.TryGetValue(file, out var header) ? header.IncludePath : null;
    }

    private int LineOf(CXCursor cursor) => FileAndLine(clang_getCursorLocation(cursor)).Line;

    /// <summary>"linux/videodev2.h:123": positions in messages use include paths, never machine paths.</summary>
    private static string Describe(string virtualFile, int line)
    {
        var file = virtualFile.StartsWith(TranslationUnit.VirtualRoot, StringComparison.Ordinal)
            ? virtualFile.Substring(TranslationUnit.VirtualRoot.Length)
            : virtualFile;
        return line > 0 ? $"{file}:{line}" : file;
    }

    private string SourcePathOf(string virtualFile) =>
        _headersByVirtualPath.TryGetValue(virtualFile, out var header) ? header.SourcePath : string.Empty;

    private void Report(string id, CXCursor cursor, string message)
    {
        var (file, line) = FileAndLine(clang_getCursorLocation(cursor));
        _diagnostics.Add(new DiagnosticDesc(id, $"{Describe(file, line)}: {message}", SourcePathOf(file), line));
    }

    /// <summary>Generated type names must not collide: an unnamed record named parent_field could meet a real tag.</summary>
    private void CheckNameClashes()
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var record in _records.Values.Where(r => r is not null))
        {
            seen[record!.Name] = record.NativeName;
        }
        foreach (var item in _enums.Values)
        {
            if (seen.TryGetValue(item.Name, out var other))
            {
                _diagnostics.Add(new DiagnosticDesc(Diagnostics.NameClashId, $"enum {item.Name} and {other} would both be generated as {item.Name}.", string.Empty, 0));
            }
        }
        foreach (var length in _arrayLengths)
        {
            var name = "FixedArray" + length.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (seen.ContainsKey(name))
            {
                _diagnostics.Add(new DiagnosticDesc(Diagnostics.NameClashId, $"{seen[name]} clashes with the generated inline array type {name}.", string.Empty, 0));
            }
        }
    }
}
