namespace VirtioMedia.Generator.Model;

/// <summary>One header of a set, by the path it is included as (<c>linux/videodev2.h</c>).</summary>
/// <param name="IncludePath">The path relative to its include root, with forward slashes.</param>
/// <param name="Text">The header's contents.</param>
/// <param name="IsEntry">Whether the parse includes it directly; the others are reached through includes.</param>
/// <param name="SourcePath">Where the file was read from, only to place diagnostics; never emitted.</param>
public sealed record HeaderFile(string IncludePath, string Text, bool IsEntry, string SourcePath);

/// <summary>Everything a parse reads: the headers and the target they are laid out for.</summary>
/// <param name="Headers">The headers, ordered by include path.</param>
/// <param name="Target">The clang target triple, such as <c>x86_64-linux-gnu</c>.</param>
/// <param name="Namespace">The C# namespace of the generated code.</param>
public sealed record HeaderSet(EquatableArray<HeaderFile> Headers, string Target, string Namespace)
{
    /// <summary>The target the toolkit's ABI is defined for: 64-bit little-endian Linux.</summary>
    public const string DefaultTarget = "x86_64-linux-gnu";

    public const string DefaultNamespace = "VirtioMedia.Abi";
}
