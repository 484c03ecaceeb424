using System;
using System.IO;
using SharpFuzz;

namespace VirtioMedia.Fuzzing;

/// <summary>
/// Fuzzing entry point: <c>VirtioMedia.Fuzzing &lt;target&gt;</c> runs a target under afl-fuzz (SharpFuzz persistent
/// mode, input on stdin), <c>VirtioMedia.Fuzzing &lt;target&gt; &lt;file&gt;...</c> replays inputs once each (to
/// reproduce a crash), and <c>VirtioMedia.Fuzzing seed &lt;corpus folder&gt;</c> writes the seed corpora.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "seed")
        {
            SeedCorpus.Write(args[1]);
            return 0;
        }
        if (args.Length == 0 || Targets.Find(args[0]) is not { } target)
        {
            Console.Error.WriteLine($"usage: VirtioMedia.Fuzzing <{string.Join('|', Targets.Names)}> [input files...] | seed <corpus folder>");
            return 2;
        }
        if (args.Length > 1)
        {
            for (var i = 1; i < args.Length; i++)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                target(File.ReadAllBytes(args[i]));
                Console.WriteLine($"{args[i]}: ok in {clock.Elapsed.TotalMilliseconds:F1} ms{(args[0] == Targets.DeviceCommands ? ", " + DeviceCommandQueueTarget.LastOutcome : "")}");
            }
            return 0;
        }
        Fuzzer.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            target(buffer.ToArray());
        });
        return 0;
    }
}
