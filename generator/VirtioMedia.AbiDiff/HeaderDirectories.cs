using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using VirtioMedia.Generator.Model;

namespace VirtioMedia.AbiDiff;

/// <summary>Header sets read from folders, laid out as abi-headers/ lays them out.</summary>
public static class HeaderDirectories
{
    /// <summary>The entry header of a kernel UAPI set.</summary>
    public const string VideoDev2 = "linux/videodev2.h";

    /// <summary>Reads every <c>*.h</c> below each include root; <paramref name="entries"/> are the include
    /// paths the parse starts from.</summary>
    public static HeaderSet Load(
        IEnumerable<string> includeRoots,
        IEnumerable<string> entries,
        string target = HeaderSet.DefaultTarget,
        string @namespace = HeaderSet.DefaultNamespace)
    {
        var entrySet = new HashSet<string>(entries, StringComparer.Ordinal);
        var headers = new List<HeaderFile>();
        foreach (var root in includeRoots)
        {
            var fullRoot = Path.GetFullPath(root);
            if (!Directory.Exists(fullRoot))
            {
                throw new DirectoryNotFoundException($"header folder '{root}' does not exist");
            }
            foreach (var file in Directory.EnumerateFiles(fullRoot, "*.h", SearchOption.AllDirectories))
            {
                var includePath = Path.GetRelativePath(fullRoot, file).Replace('\\', '/');
                headers.Add(new HeaderFile(includePath, File.ReadAllText(file), entrySet.Contains(includePath), file));
            }
        }
        return new HeaderSet(headers.OrderBy(h => h.IncludePath, StringComparer.Ordinal).ToEquatableArray(), target, @namespace);
    }

    /// <summary>A kernel UAPI set (a folder such as abi-headers/linux-6.1) with the libc shim beside it,
    /// parsed from <c>linux/videodev2.h</c>.</summary>
    /// <param name="kernelHeaders">The set's folder.</param>
    /// <param name="libcShim">The folder holding sys/time.h (abi-headers/libc-shim).</param>
    /// <param name="target">The clang target triple.</param>
    public static HeaderSet LoadKernelSet(string kernelHeaders, string libcShim, string target = HeaderSet.DefaultTarget) =>
        Load(new[] { kernelHeaders, libcShim }, new[] { VideoDev2 }, target);
}
