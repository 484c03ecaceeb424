using System.Text.RegularExpressions;
using VirtioMedia.Generator.Interop;
using static VirtioMedia.Generator.Interop.LibClang;

namespace VirtioMedia.Generator.Extraction;

// C types to C# types, for the LP64 targets the toolkit supports.
public sealed unsafe partial class HeaderParser
{
    private static readonly Regex UnnamedSpelling = new(@"\s*\((unnamed|anonymous) [^)]*\)", RegexOptions.CultureInvariant);

    /// <summary>The C# type that has exactly the C type's size, alignment and meaning.</summary>
    /// <param name="type">The C type.</param>
    /// <param name="unnamedName">The name to give an unnamed record type met here.</param>
    /// <param name="what">What has the type, for messages.</param>
    private string MapType(CXType type, string unnamedName, string what)
    {
        var canonical = clang_getCanonicalType(type);
        switch (canonical.kind)
        {
            case CXTypeKind.CXType_Pointer:
                // Pointers cross the wire as 64-bit values, never dereferenced by the toolkit.
                return "ulong";
            case CXTypeKind.CXType_Enum:
            {
                var declaration = clang_getTypeDeclaration(canonical);
                return (NameOf(declaration) is { } enumName ? Naming.EscapeIdentifier(enumName) : null)
                    ?? MapBuiltin(clang_getCanonicalType(clang_getEnumDeclIntegerType(declaration)))
                    ?? throw new UnmappableException($"{what} has an enum type of unknown width");
            }
            case CXTypeKind.CXType_Record:
            {
                var declaration = clang_getTypeDeclaration(canonical);
                var name = NameOf(declaration);
                var nativeName = name is null
                    ? (declaration.kind == CXCursorKind.CXCursor_UnionDecl ? "union" : "struct")
                    : NativeRecordName(declaration, name);
                name ??= unnamedName;
                if (!EnsureRecord(declaration, name, nativeName))
                {
                    throw new UnmappableException($"{what} has type {nativeName}, which is not generated");
                }
                return Naming.EscapeIdentifier(name);
            }
            case CXTypeKind.CXType_ConstantArray:
            {
                var length = clang_getArraySize(canonical);
                if (length <= 0)
                {
                    throw new UnmappableException($"{what} is a zero-length array");
                }
                var element = MapType(clang_getArrayElementType(canonical), unnamedName, what);
                _arrayLengths.Add(checked((int)length));
                return "FixedArray" + Invariant(length) + "<" + element + ">";
            }
            case CXTypeKind.CXType_IncompleteArray:
                throw new UnmappableException($"{what} is a flexible array member");
            default:
                return MapBuiltin(canonical)
                    ?? throw new UnmappableException($"{what} has type '{Spelling(type)}', which has no exact C# equivalent");
        }
    }

    /// <summary>The C# integer or floating type of a builtin C type, or null.</summary>
    /// <remarks>plain char is byte on every target: it is signed on x86-64 and unsigned on arm64, and the
    /// generated ABI must be the same for both.</remarks>
    private static string? MapBuiltin(CXType canonical) => canonical.kind switch
    {
        CXTypeKind.CXType_Bool => "byte",
        CXTypeKind.CXType_Char_U or CXTypeKind.CXType_Char_S or CXTypeKind.CXType_UChar => "byte",
        CXTypeKind.CXType_SChar => "sbyte",
        CXTypeKind.CXType_UShort => "ushort",
        CXTypeKind.CXType_Short => "short",
        CXTypeKind.CXType_UInt => "uint",
        CXTypeKind.CXType_Int => "int",
        CXTypeKind.CXType_ULong when clang_Type_getSizeOf(canonical) == 8 => "ulong",
        CXTypeKind.CXType_Long when clang_Type_getSizeOf(canonical) == 8 => "long",
        CXTypeKind.CXType_ULongLong => "ulong",
        CXTypeKind.CXType_LongLong => "long",
        CXTypeKind.CXType_Float => "float",
        CXTypeKind.CXType_Double => "double",
        _ => null,
    };

    /// <summary>The C spelling of a type, with clang's "(unnamed at file:line)" notes removed.</summary>
    private static string NativeSpelling(CXType type) =>
        UnnamedSpelling.Replace(Spelling(type), string.Empty).Replace("struct[", "struct [").Replace("union[", "union [");
}
