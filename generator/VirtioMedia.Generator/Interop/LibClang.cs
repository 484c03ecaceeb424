using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.RegularExpressions;

namespace VirtioMedia.Generator.Interop;

/// <summary>
/// The libclang entry points the extractor uses, bound once per process from the system library.
/// Names and signatures follow clang-c/Index.h so that its documentation applies as written.
/// </summary>
internal static unsafe partial class LibClang
{
    /// <summary>The oldest libclang whose C API has everything the extractor calls.</summary>
    public const int MinimumMajorVersion = 10;

    /// <summary>Where libclang is looked for when no path is configured, in order (see TOOLCHAIN.md).</summary>
    public static readonly IReadOnlyList<string> DefaultCandidates = new[]
    {
        "libclang-14.so.1",
        "libclang-14.so.13",
        "/usr/lib/llvm-14/lib/libclang.so.1",
        "libclang-19.so.1",
        "libclang-18.so.1",
        "libclang-17.so.1",
        "libclang-16.so.1",
        "libclang-15.so.1",
        "libclang-13.so.1",
        "libclang.so.1",
        "libclang.so",
    };

    private static readonly object Gate = new();
    private static LibClangStatus? _bound;

    /// <summary>
    /// Binds libclang. The entry points are bound once per process, from the first library that loads;
    /// a later call naming another library only checks that it loads and is recent enough, so a wrong
    /// configured path is always reported.
    /// </summary>
    /// <param name="configuredPath">A path or soname to load instead of the default candidates, or null.</param>
    public static LibClangStatus Load(string? configuredPath)
    {
        lock (Gate)
        {
            var candidates = string.IsNullOrWhiteSpace(configuredPath) ? DefaultCandidates : new[] { configuredPath! };
            if (_bound is not null && (configuredPath is null || configuredPath == _bound.Library))
            {
                return _bound;
            }
            var failures = new List<string>();
            foreach (var candidate in candidates)
            {
                var handle = NativeLibraryLoader.Open(candidate, out var error);
                if (handle == IntPtr.Zero)
                {
                    failures.Add(candidate + ": " + error);
                    continue;
                }
                if (_bound is not null)
                {
                    return _bound;
                }
                Bind(handle);
                var version = GetClangVersion();
                if (ParseMajorVersion(version) < MinimumMajorVersion)
                {
                    return LibClangStatus.TooOld(candidate, version);
                }
                _bound = LibClangStatus.Loaded(candidate, version);
                return _bound;
            }
            return LibClangStatus.Missing(string.Join("; ", failures));
        }
    }

    /// <summary>The major version in a clang version string such as "Debian clang version 14.0.6".</summary>
    public static int ParseMajorVersion(string version)
    {
        var match = Regex.Match(version, @"version (\d+)\.");
        return match.Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    private static string GetClangVersion() => TakeString(clang_getClangVersion());

    /// <summary>Copies a CXString into managed memory and disposes it.</summary>
    public static string TakeString(CXString value)
    {
        try
        {
            var text = clang_getCString(value);
            return text == null ? string.Empty : Utf8.Decode(text);
        }
        finally
        {
            clang_disposeString(value);
        }
    }

    private static void* Resolve(IntPtr library, string name)
    {
        var address = NativeLibraryLoader.Symbol(library, name);
        if (address == IntPtr.Zero)
        {
            throw new EntryPointNotFoundException("libclang has no symbol " + name);
        }
        return (void*)address;
    }
}

/// <summary>The outcome of binding libclang.</summary>
internal sealed class LibClangStatus
{
    private LibClangStatus(bool isLoaded, bool isTooOld, string library, string detail)
    {
        IsLoaded = isLoaded;
        IsTooOld = isTooOld;
        Library = library;
        Detail = detail;
    }

    public bool IsLoaded { get; }
    public bool IsTooOld { get; }
    public string Library { get; }

    /// <summary>The version string when loaded or too old; the load errors when missing.</summary>
    public string Detail { get; }

    public static LibClangStatus Loaded(string library, string version) => new(true, false, library, version);
    public static LibClangStatus TooOld(string library, string version) => new(false, true, library, version);
    public static LibClangStatus Missing(string errors) => new(false, false, string.Empty, errors);
}
