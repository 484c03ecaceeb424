using System;
using System.Collections.Generic;
using System.Globalization;
using VirtioMedia.Generator.Interop;
using VirtioMedia.Generator.Model;
using static VirtioMedia.Generator.Interop.LibClang;

namespace VirtioMedia.Generator.Extraction;

// Enums: named ones become C# enums; every enumerator is also an integer constant.
public sealed unsafe partial class HeaderParser
{
    private readonly Dictionary<string, EnumDesc> _enums = new(StringComparer.Ordinal);
    private readonly List<ConstantDesc> _enumerators = new();

    private void AddEnum(CXCursor declaration, string? name)
    {
        var underlying = MapBuiltin(clang_getCanonicalType(clang_getEnumDeclIntegerType(declaration)));
        if (underlying is null)
        {
            Report(Diagnostics.UnmappableId, declaration, $"enum {name ?? "(unnamed)"} has an underlying type with no C# equivalent; it is not generated.");
            return;
        }
        var isUnsigned = IsUnsigned(underlying);
        var header = HeaderOf(declaration) ?? string.Empty;
        var members = new List<EnumMemberDesc>();
        foreach (var child in Children(declaration))
        {
            if (child.kind != CXCursorKind.CXCursor_EnumConstantDecl)
            {
                continue;
            }
            var memberName = Spelling(child);
            var negative = !isUnsigned && clang_getEnumConstantDeclValue(child) < 0;
            var literal = isUnsigned
                ? Literal(clang_getEnumConstantDeclUnsignedValue(child), false)
                : Literal(unchecked((ulong)clang_getEnumConstantDeclValue(child)), negative);
            members.Add(new EnumMemberDesc(Naming.EscapeIdentifier(memberName), literal));
            _enumerators.Add(new ConstantDesc(memberName, underlying, literal, negative, header));
        }
        if (name is not null)
        {
            _enums[name] = new EnumDesc(Naming.EscapeIdentifier(name), IsUnnamed(declaration) ? name : "enum " + name, underlying, members.ToEquatableArray(), header);
        }
    }

    private static bool IsUnsigned(string csharpType) => csharpType is "byte" or "ushort" or "uint" or "ulong";

    /// <summary>
    /// A C# literal for a value: decimal below 10 and for negatives, hexadecimal otherwise (flags and
    /// fourccs read better in hex). <paramref name="bits"/> holds the two's-complement bits.
    /// </summary>
    internal static string Literal(ulong bits, bool negative)
    {
        if (negative)
        {
            return unchecked((long)bits).ToString(CultureInfo.InvariantCulture);
        }
        return bits < 10 ? bits.ToString(CultureInfo.InvariantCulture) : "0x" + bits.ToString("X", CultureInfo.InvariantCulture);
    }
}
