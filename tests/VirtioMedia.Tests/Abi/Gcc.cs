using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace VirtioMedia.Tests.Abi;

/// <summary>Runs gcc over a C translation unit, against the generator's own header folders only.</summary>
/// <remarks>gcc is the independent truth for layouts: it shares no code with the generator, which reads
/// the headers through libclang. <c>-nostdinc</c> keeps the machine's <c>/usr/include</c> out, so both
/// compilers see the same bytes; without it gcc would also have no <c>stddef.h</c>, which is why the C
/// files use <c>__builtin_offsetof</c>.</remarks>
internal static class Gcc
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>The includes that start every translation unit: the two entry headers of the generated ABI.</summary>
    public const string Prelude =
        "#include <linux/videodev2.h>\n" +
        "#include <virtio_media.h>\n" +
        // The generated ABI is LP64: on any other data model every pointer and long differs.
        "_Static_assert(sizeof(long) == 8 && sizeof(void *) == 8, \"gcc does not target an LP64 ABI\");\n";

    /// <summary>Checks <paramref name="source"/> with <c>gcc -fsyntax-only</c>, which evaluates every
    /// <c>_Static_assert</c>, and fails the test with gcc's diagnostics when it reports any.</summary>
    /// <param name="name">A file name for the translation unit, so gcc's messages say which check failed.</param>
    /// <param name="source">The C text, after <see cref="Prelude"/>.</param>
    public static void AssertCompiles(string name, string source)
    {
        var (exitCode, output) = Run(name, Prelude + source);
        if (exitCode != 0 || output.Length != 0)
        {
            // A failure can report thousands of assertions; the first ones name the problem.
            var lines = output.Split('\n');
            var shown = string.Join("\n", lines.Take(60));
            var more = lines.Length > 60 ? $"\n... ({lines.Length - 60} more lines)" : string.Empty;
            Assert.Fail($"gcc rejected {name} (exit code {exitCode}):\n{shown}{more}");
        }
    }

    /// <summary>Runs gcc over <paramref name="source"/> in a fresh temporary folder.</summary>
    /// <returns>gcc's exit code and its standard output and error.</returns>
    public static (int ExitCode, string Output) Run(string name, string source)
    {
        var folder = Directory.CreateTempSubdirectory("virtio-media-abi-");
        try
        {
            var file = Path.Combine(folder.FullName, name);
            File.WriteAllText(file, source);
            var start = new ProcessStartInfo("gcc")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = folder.FullName,
            };
            foreach (var argument in new[] { "-fsyntax-only", "-std=gnu11", "-nostdinc" })
            {
                start.ArgumentList.Add(argument);
            }
            foreach (var include in new[] { "linux-6.1", "libc-shim", "virtio-media" })
            {
                start.ArgumentList.Add("-I");
                start.ArgumentList.Add(Path.Combine(Repository.AbiHeaders, include));
            }
            start.ArgumentList.Add(file);

            using var gcc = StartOrFail(start);
            // Both streams are read asynchronously so a chatty gcc cannot block on a full pipe.
            var stdout = gcc.StandardOutput.ReadToEndAsync();
            var stderr = gcc.StandardError.ReadToEndAsync();
            if (!gcc.WaitForExit(Timeout))
            {
                gcc.Kill(entireProcessTree: true);
                Assert.Fail($"gcc did not finish {name} within {Timeout.TotalSeconds} s");
            }
            gcc.WaitForExit();
            return (gcc.ExitCode, (stdout.Result + stderr.Result).Trim());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static Process StartOrFail(ProcessStartInfo start)
    {
        try
        {
            return Process.Start(start) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            // Without gcc there is no independent truth: that is a failure, never a silent pass.
            Assert.Fail($"cannot run gcc, the reference compiler of the ABI checks: {e.Message}");
            throw;
        }
    }
}
