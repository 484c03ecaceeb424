using Microsoft.CodeAnalysis.CSharp;

namespace VirtioMedia.Generator.Extraction;

/// <summary>C names kept as C# identifiers, so the kernel documentation maps onto the code.</summary>
public static class Naming
{
    /// <summary>The C name, prefixed with @ where it is a reserved C# keyword (<c>@string</c>).</summary>
    public static string EscapeIdentifier(string name) =>
        SyntaxFacts.IsReservedKeyword(SyntaxFacts.GetKeywordKind(name)) ? "@" + name : name;
}
