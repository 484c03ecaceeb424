using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;

namespace VirtioMedia.Tests.Abi;

/// <summary>What the header files say, read as plain text with regular expressions: a reading that shares
/// nothing with the generator's libclang parse, so the two can check each other.</summary>
internal static class HeaderText
{
    private static readonly string[] Folders = ["linux-6.1", "libc-shim", "virtio-media"];

    private static readonly Regex Comment = new(@"/\*.*?\*/|//[^\n]*", RegexOptions.Singleline | RegexOptions.CultureInvariant);
    private static readonly Regex TaggedDefinition = new(@"\b(struct|union)\s+([A-Za-z_]\w*)\s*\{", RegexOptions.CultureInvariant);
    private static readonly Regex UnnamedTypedef = new(@"\btypedef\s+(?:struct|union)\s*\{", RegexOptions.CultureInvariant);
    private static readonly Regex TypedefName = new(@"\G\s*([A-Za-z_]\w*)\s*;", RegexOptions.CultureInvariant);
    private static readonly Regex Define = new(@"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)", RegexOptions.Multiline | RegexOptions.CultureInvariant);
    private static readonly Regex IoctlDefine = new(@"^[ \t]*#[ \t]*define[ \t]+(VIDIOC_\w+)[ \t]+_IO(?:R|W|WR)?[ \t]*\(", RegexOptions.Multiline | RegexOptions.CultureInvariant);

    /// <summary>Every header of the generated ABI, without comments, keyed by its path below its folder.</summary>
    public static IReadOnlyDictionary<string, string> Files { get; } = Folders
        .SelectMany(folder =>
        {
            var root = Path.Combine(Repository.AbiHeaders, folder);
            return Directory.EnumerateFiles(root, "*.h", SearchOption.AllDirectories)
                .Select(file => (Name: Path.GetRelativePath(root, file).Replace('\\', '/'), Text: File.ReadAllText(file)));
        })
        .ToDictionary(f => f.Name, f => Comment.Replace(f.Text, " "), StringComparer.Ordinal);

    /// <summary>Every record the headers define, spelled as C names the type: <c>struct v4l2_buffer</c>
    /// for a tagged definition (nested ones too: C gives them file scope), the typedef name for
    /// <c>typedef struct { ... } NAME;</c>.</summary>
    public static IReadOnlyList<(string NativeName, string Header)> RecordDefinitions()
    {
        var records = new List<(string, string)>();
        foreach (var (header, text) in Files)
        {
            foreach (Match match in TaggedDefinition.Matches(text))
            {
                records.Add((match.Groups[1].Value + " " + match.Groups[2].Value, header));
            }
            foreach (Match match in UnnamedTypedef.Matches(text))
            {
                var close = MatchingBrace(text, match.Index + match.Length - 1);
                var name = TypedefName.Match(text, close + 1);
                if (!name.Success)
                {
                    throw new FormatException($"{header}: a typedef of an unnamed record at offset {match.Index} is not followed by one name");
                }
                records.Add((name.Groups[1].Value, header));
            }
        }
        return records;
    }

    /// <summary>Whether some header has <c>#define NAME</c>.</summary>
    public static bool DefinesMacro(string name) => DefinedMacros.Value.Contains(name);

    /// <summary>The VIDIOC_* macros of videodev2.h that are defined with an <c>_IO*</c> macro.</summary>
    public static IReadOnlyList<string> IoctlMacros() =>
        IoctlDefine.Matches(Files["linux/videodev2.h"]).Select(m => m.Groups[1].Value).ToArray();

    private static readonly Lazy<HashSet<string>> DefinedMacros = new(() => Files.Values
        .SelectMany(text => Define.Matches(text).Select(m => m.Groups[1].Value))
        .ToHashSet(StringComparer.Ordinal));

    private static int MatchingBrace(string text, int open)
    {
        var depth = 0;
        for (var i = open; i < text.Length; i++)
        {
            depth += text[i] switch { '{' => 1, '}' => -1, _ => 0 };
            if (depth == 0)
            {
                return i;
            }
        }
        throw new FormatException($"unbalanced '{{' at offset {open}");
    }
}
