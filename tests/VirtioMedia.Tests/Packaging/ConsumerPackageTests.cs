using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text.Json;
using System.Xml.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Tests.Abi;

namespace VirtioMedia.Tests.Packaging;

/// <summary>
/// The packages as a user meets them: packed from this repository into a local folder feed, restored by a
/// fresh project outside the repository that points the generator at a header set of its own, built, and run.
/// </summary>
/// <remarks>One pack of the three projects and one build of the consumer: about a minute, hence the category.</remarks>
[TestClass]
public sealed class ConsumerPackageTests
{
    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(1);

    /// <summary>A header of the consumer's own next to the kernel's: a private ioctl with a padded payload.</summary>
    private const string ConsumerHeader = """
        /* A private extension of the consumer's own. */
        #ifndef CONSUMER_CAMERA_EXT_H
        #define CONSUMER_CAMERA_EXT_H
        #include <linux/types.h>
        #include <linux/ioctl.h>

        struct camera_ext_info {
        	__u8 revision;
        	__u64 serial;
        	__u16 sensor_id;
        	__u32 lanes[3];
        };

        #define CAMERA_EXT_IOC_G_INFO _IOR('V', 200, struct camera_ext_info)

        #endif

        """;

    private const string ConsumerProject = """
        <Project Sdk="Microsoft.NET.Sdk">
          <PropertyGroup>
            <OutputType>Exe</OutputType>
            <TargetFramework>net10.0</TargetFramework>
            <Nullable>enable</Nullable>
            <ImplicitUsings>disable</ImplicitUsings>
            <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
            <InvariantGlobalization>true</InvariantGlobalization>
            <VirtioMediaNamespace>Consumer.Abi</VirtioMediaNamespace>
          </PropertyGroup>
          <ItemGroup>
            <PackageReference Include="VirtioMedia.Generator" Version="$version$" />
            <PackageReference Include="VirtioMedia.Runtime" Version="$version$" />
          </ItemGroup>
          <ItemGroup>
            <VirtioMediaHeaders Include="headers/linux-6.1/**/*.h" IncludeRoot="headers/linux-6.1/" />
            <VirtioMediaHeaders Include="headers/libc-shim/**/*.h" IncludeRoot="headers/libc-shim/" />
            <VirtioMediaHeaders Include="headers/consumer/**/*.h" IncludeRoot="headers/consumer/" />
            <VirtioMediaHeaders Update="headers/linux-6.1/linux/videodev2.h;headers/consumer/virtio_media.h;headers/consumer/camera_ext.h" Entry="true" />
            <VirtioMediaTrailers Include="trailers.json" />
          </ItemGroup>
        </Project>
        """;

    // Consumer.Abi is generated in the consumer from its headers; VirtioMedia.Abi comes precompiled with the
    // runtime package. The format crosses from one to the other through the runtime's guest memory.
    private const string ConsumerProgram = """
        using System;
        using System.Runtime.InteropServices;
        using Consumer.Abi;
        using VirtioMedia.Runtime.Memory;
        using VirtioMedia.Runtime.Virtqueues;

        Console.WriteLine($"namespace={typeof(v4l2_format).Namespace}");
        Console.WriteLine($"sizeof.v4l2_format={Marshal.SizeOf<v4l2_format>()}");
        Console.WriteLine($"VIDIOC_G_FMT.number={Ioctls.VIDIOC_G_FMT.Descriptor.Number}");
        Console.WriteLine($"VIDIOC_G_FMT.request={Ioctls.VIDIOC_G_FMT.Descriptor.Request}");
        Console.WriteLine($"sizeof.camera_ext_info={Marshal.SizeOf<camera_ext_info>()}");
        Console.WriteLine($"offsetof.camera_ext_info.serial={Marshal.OffsetOf<camera_ext_info>(nameof(camera_ext_info.serial))}");
        Console.WriteLine($"CAMERA_EXT_IOC_G_INFO.number={Ioctls.CAMERA_EXT_IOC_G_INFO.Descriptor.Number}");
        Console.WriteLine($"trailers.rules={Trailers.All.Count}");
        Console.WriteLine($"trailers.unsupported={Trailers.Unsupported.Count}");

        var layout = SplitQueueLayout.Contiguous(256, 0x10000);
        Console.WriteLine($"queue.descriptors={layout.DescriptorTable}");
        Console.WriteLine($"queue.available={layout.AvailableRing}");
        Console.WriteLine($"queue.used={layout.UsedRing}");
        Console.WriteLine($"queue.bytes={SplitQueueLayout.ContiguousSize(256)}");

        using var memory = GuestMemory.Allocate(0x10000, 0x4000);
        var format = new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
        format.fmt.pix.width = 1920;
        format.fmt.pix.height = 1080;
        format.fmt.pix.pixelformat = Constants.V4L2_PIX_FMT_NV12;
        memory.Write(0x12000, format);
        var packaged = memory.Read<VirtioMedia.Abi.v4l2_format>(0x12000);
        Console.WriteLine($"packaged.type={packaged.type}");
        Console.WriteLine($"packaged.width={packaged.fmt.pix.width}");
        Console.WriteLine($"packaged.height={packaged.fmt.pix.height}");
        Console.WriteLine($"packaged.pixelformat={packaged.fmt.pix.pixelformat}");
        """;

    [TestMethod]
    [TestCategory("Packaging")]
    public void A_fresh_project_outside_the_repository_generates_its_abi_from_the_packages_and_runs_with_the_runtime()
    {
        var work = Directory.CreateTempSubdirectory("virtio-media-packaging-");
        try
        {
            // A version of this run only, so no package cached by an earlier run can stand in for these.
            var version = "0.1.0-packaging." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", CultureInfo.InvariantCulture);
            var feed = Path.Combine(work.FullName, "feed");
            var consumer = Path.Combine(work.FullName, "consumer");

            Pack(work.FullName, feed, version);
            AssertPackageContents(feed, version);

            WriteConsumer(consumer, feed, version);
            var environment = new Dictionary<string, string>
            {
                // An empty package folder of this run: the consumer restores only from the feed just packed.
                ["NUGET_PACKAGES"] = Path.Combine(work.FullName, "packages"),
            };
            Run(consumer, BuildTimeout, environment, "build", "-c", "Release", "--disable-build-servers", "-nologo");
            var output = Run(consumer, RunTimeout, environment, Path.Combine(consumer, "bin", "Release", "net10.0", "Consumer.dll"));

            AssertConsumerOutput(Parse(output));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>Packs the three projects into <paramref name="feed"/>: one build through the runtime, which
    /// builds the other two, then the other two packed from that build.</summary>
    private static void Pack(string work, string feed, string version)
    {
        var artifacts = Path.Combine(work, "artifacts");
        string[] Arguments(string project, bool build) =>
            new[] { "pack", Path.Combine(Repository.Root, project), "-c", "Release", "-o", feed, "--artifacts-path", artifacts, "-p:Version=" + version, "--disable-build-servers", "-nologo" }
                .Concat(build ? Array.Empty<string>() : new[] { "--no-build" }).ToArray();

        Run(work, PackTimeout, null, Arguments("VirtioMedia.Runtime", build: true));
        Run(work, PackTimeout, null, Arguments("VirtioMedia.Generated", build: false));
        Run(work, PackTimeout, null, Arguments("generator/VirtioMedia.Generator", build: false));
    }

    /// <summary>The layout TOOLCHAIN.md asks of an analyzer package, and the two libraries as plain libraries.</summary>
    private static void AssertPackageContents(string feed, string version)
    {
        var generator = Entries(feed, "VirtioMedia.Generator", version);
        CollectionAssert.IsSubsetOf(
            new[] { "analyzers/dotnet/cs/VirtioMedia.Generator.dll", "analyzers/dotnet/cs/Scriban.Signed.dll", "build/VirtioMedia.Generator.props", "build/VirtioMedia.Generator.targets" },
            generator.Files, string.Join("\n", generator.Files));
        Assert.IsFalse(generator.Files.Any(f => f.StartsWith("lib/", StringComparison.Ordinal)), "the generator is no library a consumer compiles against");
        Assert.IsFalse(generator.Files.Any(f => f.StartsWith("analyzers/", StringComparison.Ordinal) && f.Contains(".so", StringComparison.Ordinal)), "a native library under analyzers/ breaks the consumer's build (CS8034)");
        Assert.AreEqual("true", generator.Metadata.Element(generator.Ns + "developmentDependency")?.Value);
        Assert.IsFalse(generator.Metadata.Descendants(generator.Ns + "dependency").Any(), "Scriban is bundled, not a dependency");

        var generated = Entries(feed, "VirtioMedia.Generated", version);
        CollectionAssert.Contains(generated.Files, "lib/net10.0/VirtioMedia.Generated.dll");
        Assert.IsFalse(generated.Files.Any(f => f.StartsWith("analyzers/", StringComparison.Ordinal)), "the generated library is precompiled");
        Assert.IsFalse(generated.Metadata.Descendants(generated.Ns + "dependency").Any(), "the generator is only a build tool of the generated library");

        var runtime = Entries(feed, "VirtioMedia.Runtime", version);
        CollectionAssert.Contains(runtime.Files, "lib/net10.0/VirtioMedia.Runtime.dll");
        var dependencies = runtime.Metadata.Descendants(runtime.Ns + "dependency").Select(d => (Id: (string?)d.Attribute("id"), Version: (string?)d.Attribute("version"))).ToList();
        CollectionAssert.AreEqual(new[] { ("VirtioMedia.Generated", version) }, dependencies);
    }

    private static (List<string> Files, XElement Metadata, XNamespace Ns) Entries(string feed, string id, string version)
    {
        var path = Path.Combine(feed, $"{id}.{version}.nupkg");
        Assert.IsTrue(File.Exists(path), $"{path} was not packed");
        using var package = ZipFile.OpenRead(path);
        var files = package.Entries.Select(e => e.FullName).ToList();
        using var nuspec = package.GetEntry(id + ".nuspec")!.Open();
        var metadata = XDocument.Load(nuspec).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        return (files, metadata, metadata.Name.Namespace);
    }

    private static void WriteConsumer(string consumer, string feed, string version)
    {
        var headers = Path.Combine(consumer, "headers");
        CopyFolder(Path.Combine(Repository.AbiHeaders, "linux-6.1"), Path.Combine(headers, "linux-6.1"));
        CopyFolder(Path.Combine(Repository.AbiHeaders, "libc-shim"), Path.Combine(headers, "libc-shim"));
        Directory.CreateDirectory(Path.Combine(headers, "consumer"));
        File.Copy(Path.Combine(Repository.AbiHeaders, "virtio-media", "virtio_media.h"), Path.Combine(headers, "consumer", "virtio_media.h"));
        File.WriteAllText(Path.Combine(headers, "consumer", "camera_ext.h"), ConsumerHeader);
        File.Copy(Path.Combine(Repository.AbiHeaders, "virtio-media", "trailers.json"), Path.Combine(consumer, "trailers.json"));

        File.WriteAllText(Path.Combine(consumer, "Consumer.csproj"), ConsumerProject.Replace("$version$", version, StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(consumer, "Program.cs"), ConsumerProgram);
        // The folder is outside the repository already; these stop MSBuild from looking further up anyway.
        File.WriteAllText(Path.Combine(consumer, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(consumer, "Directory.Build.targets"), "<Project />\n");
        // The feed, and nuget.org (the source this machine restores from) for anything else: the mapping keeps
        // the toolkit's packages to the feed, so a published package of the same name cannot be picked.
        File.WriteAllText(Path.Combine(consumer, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="local"><package pattern="VirtioMedia.*" /></packageSource>
                <packageSource key="nuget.org"><package pattern="*" /></packageSource>
              </packageSourceMapping>
            </configuration>
            """);
    }

    private static void AssertConsumerOutput(IReadOnlyDictionary<string, string> values)
    {
        string Value(string key) => values.TryGetValue(key, out var value) ? value : throw new AssertFailedException($"the consumer printed no {key}");
        long Number(string key) => long.Parse(Value(key), CultureInfo.InvariantCulture);

        Assert.AreEqual("Consumer.Abi", Value("namespace"));
        Assert.AreEqual(208, Number("sizeof.v4l2_format"));
        Assert.AreEqual(4, Number("VIDIOC_G_FMT.number"));
        Assert.AreEqual(200, Number("CAMERA_EXT_IOC_G_INFO.number"));

        // gcc, over the same headers, judges every layout and ioctl value the consumer's generated ABI printed.
        Gcc.AssertCompiles("consumer.c", ConsumerHeader + string.Join("\n",
            $"_Static_assert(sizeof(struct v4l2_format) == {Value("sizeof.v4l2_format")}, \"sizeof v4l2_format\");",
            $"_Static_assert(_IOC_NR(VIDIOC_G_FMT) == {Value("VIDIOC_G_FMT.number")}, \"VIDIOC_G_FMT number\");",
            $"_Static_assert(VIDIOC_G_FMT == {Value("VIDIOC_G_FMT.request")}u, \"VIDIOC_G_FMT request\");",
            $"_Static_assert(sizeof(struct camera_ext_info) == {Value("sizeof.camera_ext_info")}, \"sizeof camera_ext_info\");",
            $"_Static_assert(__builtin_offsetof(struct camera_ext_info, serial) == {Value("offsetof.camera_ext_info.serial")}, \"offsetof serial\");",
            $"_Static_assert(_IOC_NR(CAMERA_EXT_IOC_G_INFO) == {Value("CAMERA_EXT_IOC_G_INFO.number")}, \"CAMERA_EXT_IOC_G_INFO number\");",
            ""));

        // The consumer's VirtioMediaTrailers item reached the generator: one rule per payload, as the file says.
        using var trailers = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repository.AbiHeaders, "virtio-media", "trailers.json")));
        Assert.AreEqual(trailers.RootElement.GetProperty("payloads").GetArrayLength(), Number("trailers.rules"));
        Assert.AreEqual(trailers.RootElement.GetProperty("unsupported").GetArrayLength(), Number("trailers.unsupported"));

        // The runtime package works: the split queue of 256 entries at 0x10000 by the formulas of virtio 1.x 2.7.
        const long start = 0x10000, size = 256;
        var available = start + 16 * size;
        var used = (available + 6 + 2 * size + 3) / 4 * 4;
        Assert.AreEqual(start, Number("queue.descriptors"));
        Assert.AreEqual(available, Number("queue.available"));
        Assert.AreEqual(used, Number("queue.used"));
        Assert.AreEqual(used + 6 + 8 * size - start, Number("queue.bytes"));

        // A format written as the consumer's type reads back field by field as the packaged library's type.
        var nv12 = 'N' | ('V' << 8) | ('1' << 16) | ((long)'2' << 24); // v4l2_fourcc('N', 'V', '1', '2')
        Assert.AreEqual(1, Number("packaged.type")); // V4L2_BUF_TYPE_VIDEO_CAPTURE
        Assert.AreEqual(1920, Number("packaged.width"));
        Assert.AreEqual(1080, Number("packaged.height"));
        Assert.AreEqual(nv12, Number("packaged.pixelformat"));
    }

    private static Dictionary<string, string> Parse(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split('=', 2))
            .Where(parts => parts.Length == 2)
            .ToDictionary(parts => parts[0], parts => parts[1], StringComparer.Ordinal);

    private static void CopyFolder(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    /// <summary>Runs the dotnet host with <paramref name="arguments"/>, bounded by <paramref name="timeout"/>;
    /// fails the test with the output when it fails or takes too long.</summary>
    /// <returns>The standard output.</returns>
    private static string Run(string directory, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        // The test host runs under an MSBuild and a test platform of its own; their settings are not the child's.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var command = "dotnet " + string.Join(' ', arguments);
        var stopwatch = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start " + command);
        // Both streams are read asynchronously so a chatty build cannot block on a full pipe.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{command} did not finish within {timeout.TotalSeconds} s");
        }
        process.WaitForExit();
        Console.WriteLine($"{command}: {stopwatch.Elapsed.TotalSeconds:F1} s");
        if (process.ExitCode != 0)
        {
            Assert.Fail($"{command} exited with {process.ExitCode}:\n{stdout.Result}\n{stderr.Result}");
        }
        return stdout.Result;
    }
}
