using System;
using System.Collections.Generic;
using System.Globalization;
using VirtioMedia.Generator.Interop;
using VirtioMedia.Generator.Model;
using static VirtioMedia.Generator.Interop.LibClang;

namespace VirtioMedia.Generator.Extraction;

// Structs and unions: every field at its absolute offset, anonymous members flattened as in C11.
public sealed unsafe partial class HeaderParser
{
    // Name -> record, or null for a record that cannot be mapped exactly (and so is not generated).
    private readonly Dictionary<string, RecordDesc?> _records = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _recordSources = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _typedefNames = new(StringComparer.Ordinal);
    private readonly HashSet<int> _arrayLengths = new();

    /// <summary>An unnamed struct, union or enum introduced by a typedef takes the typedef's name.</summary>
    private void CollectTypedefNames(List<CXCursor> topLevel)
    {
        foreach (var cursor in topLevel)
        {
            if (cursor.kind != CXCursorKind.CXCursor_TypedefDecl)
            {
                continue;
            }
            var underlying = clang_getCanonicalType(clang_getTypedefDeclUnderlyingType(cursor));
            if (underlying.kind is CXTypeKind.CXType_Record or CXTypeKind.CXType_Enum)
            {
                var declaration = clang_getTypeDeclaration(underlying);
                if (IsUnnamed(declaration))
                {
                    _typedefNames[SourceKey(declaration)] = Spelling(cursor);
                }
            }
        }
    }

    /// <summary>The tag, or the typedef name of an unnamed declaration, or null.</summary>
    private string? NameOf(CXCursor declaration)
    {
        if (!IsUnnamed(declaration))
        {
            return Spelling(declaration);
        }
        return _typedefNames.TryGetValue(SourceKey(declaration), out var name) ? name : null;
    }

    /// <summary>Whether a tag declaration has no tag. libclang versions disagree on how they say it
    /// (isAnonymous, an empty spelling, or "(unnamed struct at ...)"), so all three are asked.</summary>
    private static bool IsUnnamed(CXCursor declaration)
    {
        if (clang_Cursor_isAnonymous(declaration) != 0)
        {
            return true;
        }
        var spelling = Spelling(declaration);
        return spelling.Length == 0 || spelling.Contains("(unnamed") || spelling.Contains("(anonymous");
    }

    private static string NativeRecordName(CXCursor declaration, string name)
    {
        if (IsUnnamed(declaration))
        {
            return name; // a typedef name is spelled alone in C
        }
        return (declaration.kind == CXCursorKind.CXCursor_UnionDecl ? "union " : "struct ") + name;
    }

    /// <summary>Adds a record once; false when it cannot be generated exactly.</summary>
    private bool EnsureRecord(CXCursor declaration, string name, string nativeName)
    {
        var definition = clang_getCursorDefinition(declaration);
        if (definition.kind is CXCursorKind.CXCursor_StructDecl or CXCursorKind.CXCursor_UnionDecl)
        {
            declaration = definition;
        }
        var source = SourceKey(declaration);
        if (_records.TryGetValue(name, out var existing))
        {
            if (_recordSources[name] != source)
            {
                Report(Diagnostics.NameClashId, declaration, $"{nativeName} would be generated as {name}, a name another record already has.");
                return false;
            }
            return existing is not null;
        }

        _records[name] = null; // placeholder: C forbids a record containing itself by value
        _recordSources[name] = source;
        try
        {
            var type = clang_getCursorType(declaration);
            var size = clang_Type_getSizeOf(type);
            var alignment = clang_Type_getAlignOf(type);
            if (size < 0 || alignment <= 0)
            {
                throw new UnmappableException("clang gives it no size (incomplete type)");
            }
            var fields = new List<FieldDesc>();
            var natural = 1L;
            CollectFields(type, 0, name, fields, ref natural);
            var pack = alignment < natural ? (int)alignment : 0;
            _records[name] = new RecordDesc(
                Naming.EscapeIdentifier(name),
                nativeName,
                declaration.kind == CXCursorKind.CXCursor_UnionDecl,
                (int)size,
                (int)alignment,
                pack,
                fields.ToEquatableArray(),
                HeaderOf(declaration) ?? string.Empty);
        }
        catch (UnmappableException unmappable)
        {
            Report(Diagnostics.UnmappableId, declaration, $"{nativeName}: {unmappable.Message}; it has no exact C# layout, so neither it nor any record that embeds it is generated.");
            return false;
        }

        // A record defined inside another one is still a file-scope tag in C.
        foreach (var child in Children(declaration))
        {
            if (child.kind is CXCursorKind.CXCursor_StructDecl or CXCursorKind.CXCursor_UnionDecl
                && clang_isCursorDefinition(child) != 0
                && !IsUnnamed(child))
            {
                var childName = Spelling(child);
                EnsureRecord(child, childName, NativeRecordName(child, childName));
            }
        }
        return true;
    }

    private void CollectFields(CXType recordType, long baseOffset, string owner, List<FieldDesc> fields, ref long naturalAlignment)
    {
        foreach (var field in Fields(recordType))
        {
            var name = Spelling(field);
            var fieldType = clang_getCursorType(field);
            if (clang_Cursor_isBitField(field) != 0)
            {
                throw new UnmappableException($"field '{name}' is a bit-field");
            }
            var offsetBits = clang_Cursor_getOffsetOfField(field);
            if (offsetBits < 0 || offsetBits % 8 != 0)
            {
                throw new UnmappableException($"field '{name}' has no byte offset (clang says {offsetBits} bits)");
            }
            var offset = baseOffset + offsetBits / 8;
            naturalAlignment = Math.Max(naturalAlignment, clang_Type_getAlignOf(fieldType));

            var canonical = clang_getCanonicalType(fieldType);
            if (canonical.kind == CXTypeKind.CXType_Record && clang_Cursor_isAnonymousRecordDecl(clang_getTypeDeclaration(canonical)) != 0)
            {
                // C11 anonymous member: its fields belong to the parent (buf.request_fd).
                CollectFields(canonical, offset, owner, fields, ref naturalAlignment);
                continue;
            }

            var csharpType = MapType(fieldType, owner + "_" + name, $"field '{name}'");
            fields.Add(new FieldDesc(
                name,
                Naming.EscapeIdentifier(name),
                csharpType,
                NativeSpelling(fieldType),
                checked((int)offset),
                checked((int)clang_Type_getSizeOf(fieldType))));
        }
    }

    private sealed class UnmappableException : Exception
    {
        public UnmappableException(string message) : base(message)
        {
        }
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
