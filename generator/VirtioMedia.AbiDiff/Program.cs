using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Linq;
using VirtioMedia.Generator;
using VirtioMedia.Generator.Diffing;
using VirtioMedia.Generator.Extraction;
using VirtioMedia.Generator.Model;
using Differ = VirtioMedia.Generator.Diffing.AbiDiff;

namespace VirtioMedia.AbiDiff;

/// <summary>
/// The <c>VirtioMedia.AbiDiff</c> command: parses two kernel UAPI header folders and reports the ABI
/// differences between them. Exit code 0 when the new set is compatible with the old one, 1 when it breaks
/// the ABI, 2 when the command line, a folder or a header is wrong.
/// </summary>
public static class Program
{
    /// <summary>The new headers are compatible with the old ones.</summary>
    public const int Compatible = 0;

    /// <summary>At least one change breaks the ABI.</summary>
    public const int AbiBreak = 1;

    /// <summary>Bad usage, a missing folder, or headers that do not parse.</summary>
    public const int UsageOrParseError = 2;

    private const string ShimFolder = "abi-headers/libc-shim";

    /// <summary>The process entry point.</summary>
    /// <param name="args">The command line.</param>
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the command with the report on <paramref name="output"/> and problems on
    /// <paramref name="error"/>; returns the exit code.</summary>
    /// <param name="args">The command line, without the program name.</param>
    /// <param name="output">Where the report and the help go.</param>
    /// <param name="error">Where usage errors and header diagnostics go.</param>
    public static int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        var oldHeaders = new Argument<string>("OLD") { Description = "The old kernel UAPI header folder (what callers were built against), e.g. abi-headers/linux-6.1." };
        var newHeaders = new Argument<string>("NEW") { Description = "The new kernel UAPI header folder." };
        var oldTarget = new Option<string>("--old-target") { Description = "The clang target triple the old headers are laid out for.", DefaultValueFactory = _ => HeaderSet.DefaultTarget };
        var newTarget = new Option<string>("--new-target") { Description = "The clang target triple the new headers are laid out for.", DefaultValueFactory = _ => HeaderSet.DefaultTarget };
        var shim = new Option<string?>("--shim") { Description = $"The libc shim folder (holding sys/time.h); default: {ShimFolder} of the repository around the current folder or the tool." };
        var libClang = new Option<string?>("--libclang") { Description = "The libclang library to load instead of libclang-14.so.1 and its fellows." };

        foreach (var target in new[] { oldTarget, newTarget })
        {
            target.Validators.Add(result =>
            {
                if (string.IsNullOrWhiteSpace(result.GetValueOrDefault<string>()))
                {
                    result.AddError($"{target.Name} needs a clang target triple such as {HeaderSet.DefaultTarget}.");
                }
            });
        }

        var command = new RootCommand("Reports the ABI differences between two V4L2 kernel header sets: records, fields, enums, constants and ioctls, and whether the new set breaks the old ABI.")
        {
            oldHeaders,
            newHeaders,
            oldTarget,
            newTarget,
            shim,
            libClang,
        };
        command.SetAction(parse => Diff(
            new SetArguments(parse.GetRequiredValue(oldHeaders), parse.GetValue(oldTarget) ?? HeaderSet.DefaultTarget),
            new SetArguments(parse.GetRequiredValue(newHeaders), parse.GetValue(newTarget) ?? HeaderSet.DefaultTarget),
            parse.GetValue(shim),
            parse.GetValue(libClang),
            output,
            error));

        var parseResult = command.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            // System.CommandLine would exit with 1 here, which this tool keeps for "ABI break".
            foreach (var parseError in parseResult.Errors)
            {
                error.WriteLine($"error: {parseError.Message}");
            }
            error.WriteLine("usage: VirtioMedia.AbiDiff OLD NEW [--old-target TRIPLE] [--new-target TRIPLE] [--shim DIR] [--libclang PATH] (--help for more)");
            return UsageOrParseError;
        }
        return parseResult.Invoke(new InvocationConfiguration { Output = output, Error = error });
    }

    private sealed record SetArguments(string Folder, string Target);

    private static int Diff(SetArguments oldSet, SetArguments newSet, string? shimOption, string? libClangPath, TextWriter output, TextWriter error)
    {
        // Both folders are checked before anything is parsed, so that one run names every wrong path.
        if (!IsKernelFolder("OLD", oldSet, error) | !IsKernelFolder("NEW", newSet, error))
        {
            return UsageOrParseError;
        }
        var shimFolder = shimOption ?? FindShim(oldSet.Folder, newSet.Folder);
        if (shimFolder is null)
        {
            error.WriteLine($"error: the libc shim ({ShimFolder}) was not found above the current folder, the header folders or the tool; pass --shim DIR.");
            return UsageOrParseError;
        }
        if (!File.Exists(Path.Combine(shimFolder, "sys", "time.h")))
        {
            error.WriteLine($"error: the libc shim folder '{shimFolder}' holds no sys/time.h.");
            return UsageOrParseError;
        }

        var oldModel = Parse("OLD", oldSet, shimFolder, libClangPath, error);
        var newModel = Parse("NEW", newSet, shimFolder, libClangPath, error);
        if (oldModel is null || newModel is null)
        {
            return UsageOrParseError;
        }

        var result = Differ.Compare(oldModel, newModel);
        output.Write(AbiDiffReport.Render(result, Label(oldSet), Label(newSet)));
        return result.IsAbiBreak ? AbiBreak : Compatible;
    }

    /// <summary>The model of one set, or null (after saying why) when it is missing or does not parse
    /// cleanly: a diff against a half-read header set would report changes that are not there.</summary>
    private static bool IsKernelFolder(string role, SetArguments set, TextWriter error)
    {
        if (!Directory.Exists(set.Folder))
        {
            error.WriteLine($"error: {role} header folder '{set.Folder}' does not exist.");
            return false;
        }
        if (!File.Exists(Path.Combine(set.Folder, HeaderDirectories.VideoDev2)))
        {
            error.WriteLine($"error: {role} header folder '{set.Folder}' holds no {HeaderDirectories.VideoDev2}; expected a kernel UAPI folder such as abi-headers/linux-6.1.");
            return false;
        }
        return true;
    }

    private static AbiModel? Parse(string role, SetArguments set, string shimFolder, string? libClangPath, TextWriter error)
    {
        AbiModel model;
        try
        {
            model = HeaderParser.Parse(HeaderDirectories.LoadKernelSet(set.Folder, shimFolder, set.Target), libClangPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"error: reading {role} header folder '{set.Folder}': {e.Message}");
            return null;
        }

        foreach (var diagnostic in model.Diagnostics)
        {
            error.WriteLine($"{role} ({set.Target}): {diagnostic.Id}: {diagnostic.Message}");
            if (diagnostic.Id == Diagnostics.ParseFailedId)
            {
                // libclang refuses a whole translation unit mostly for a target triple it does not know.
                error.WriteLine($"  is '{set.Target}' a target triple clang knows (such as {HeaderSet.DefaultTarget})?");
            }
        }
        return model.Diagnostics.Count == 0 ? model : null;
    }

    private static string Label(SetArguments set) => $"{set.Folder} ({set.Target})";

    /// <summary>abi-headers/libc-shim in the nearest folder above the current one, the header folders or the
    /// tool's own folder that has one.</summary>
    private static string? FindShim(params string[] headerFolders)
    {
        var starts = new[] { Directory.GetCurrentDirectory() }
            .Concat(headerFolders.Select(Path.GetFullPath))
            .Append(AppContext.BaseDirectory);
        foreach (var start in starts)
        {
            for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
            {
                var candidate = Path.Combine(folder.FullName, ShimFolder);
                if (File.Exists(Path.Combine(candidate, "sys", "time.h")))
                {
                    return candidate;
                }
            }
        }
        return null;
    }
}
