using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.AbiDiff;
using VirtioMedia.Generator.Extraction;
using VirtioMedia.Generator.Model;

namespace VirtioMedia.Tests.Generator;

/// <summary>
/// Real kernel header sets: the pinned Linux 6.1 UAPI, the same UAPI as Debian ships it for arm64, and a
/// kernel bump made by editing a copy, all through the generator with no change to its code.
/// </summary>
[TestClass]
public sealed class KernelHeaderSetTests
{
    private static readonly Lazy<AbiModel> Linux61 = new(() => HeaderParser.Parse(
        HeaderDirectories.LoadKernelSet(Path.Combine(Repository.AbiHeaders, "linux-6.1"), Path.Combine(Repository.AbiHeaders, "libc-shim"))));

    private static readonly Lazy<AbiModel> Linux61Arm64 = new(() => HeaderParser.Parse(
        HeaderDirectories.LoadKernelSet(Path.Combine(Repository.HeaderSets, "linux-6.1.192-arm64"), Path.Combine(Repository.AbiHeaders, "libc-shim"), "aarch64-linux-gnu")));

    [TestMethod]
    public void Linux61_parses_without_diagnostics_and_finds_every_VIDIOC_ioctl()
    {
        var model = Linux61.Value;
        Assert.AreEqual(0, model.Diagnostics.Count, string.Join("\n", model.Diagnostics.Select(d => d.Message)));

        // The truth: every "#define VIDIOC_X _IO*(" line of the header.
        var text = File.ReadAllText(Path.Combine(Repository.AbiHeaders, "linux-6.1", "linux", "videodev2.h"));
        var defined = Regex.Matches(text, @"^#define\s+(VIDIOC_\w+)\s+_IO(?:R|W|WR)?\s*\(", RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value)
            .OrderBy(n => n, StringComparer.Ordinal)
            .ToList();
        Assert.IsTrue(defined.Count > 50, "the header defines the V4L2 ioctls");
        CollectionAssert.AreEqual(defined, model.Ioctls.Select(i => i.Name).OrderBy(n => n, StringComparer.Ordinal).ToList());
    }

    [TestMethod]
    public void Arm64_headers_give_the_same_layouts_ioctls_and_constants_as_x86_64()
    {
        var x86 = Linux61.Value;
        var arm = Linux61Arm64.Value;
        Assert.AreEqual(0, arm.Diagnostics.Count, string.Join("\n", arm.Diagnostics.Select(d => d.Message)));

        CollectionAssert.AreEqual(x86.Records.ToArray(), arm.Records.ToArray(), Difference(x86.Records, arm.Records));
        CollectionAssert.AreEqual(x86.Ioctls.ToArray(), arm.Ioctls.ToArray(), Difference(x86.Ioctls, arm.Ioctls));
        CollectionAssert.AreEqual(x86.InlineArrayLengths.ToArray(), arm.InlineArrayLengths.ToArray());
        CollectionAssert.AreEqual(x86.Enums.ToArray(), arm.Enums.ToArray(), Difference(x86.Enums, arm.Enums));
        CollectionAssert.AreEqual(x86.Constants.ToArray(), arm.Constants.ToArray(), Difference(x86.Constants, arm.Constants));
    }

    [TestMethod]
    public void Kernel_bump_is_picked_up_with_no_code_change()
    {
        var kernel = CopyOfLinux61();
        try
        {
            var videodev2 = Path.Combine(kernel, "linux", "videodev2.h");
            var text = File.ReadAllText(videodev2);
            // A new field in the reserved space of v4l2_capability, a new struct, and a new ioctl.
            text = ReplaceOnce(text,
                "\t__u32\tdevice_caps;\n\t__u32\treserved[3];\n};",
                "\t__u32\tdevice_caps;\n\t__u32\ttest_bump_flags;\n\t__u32\treserved[2];\n};");
            text = ReplaceOnce(text,
                "#define BASE_VIDIOC_PRIVATE",
                "struct v4l2_test_bump {\n\t__u32 a;\n\t__u64 b;\n};\n#define VIDIOC_TEST_BUMP _IOWR('V', 200, struct v4l2_test_bump)\n\n#define BASE_VIDIOC_PRIVATE");
            File.WriteAllText(videodev2, text);

            var run = GeneratorHarness.Run(GeneratorHarness.ToolkitHeaders(kernel));
            Assert.AreEqual(0, run.GeneratorDiagnostics.Length, string.Join("\n", run.GeneratorDiagnostics));
            Assert.AreEqual(0, run.CompilationProblems.Count, string.Join("\n", run.CompilationProblems.Take(20)));

            var records = run.Source("Records.g.cs");
            StringAssert.Contains(records, "[NativeTypeName(\"struct v4l2_test_bump\")]\npublic partial struct v4l2_test_bump\n");
            var bump = RuntimeType(run, "v4l2_test_bump");
            Assert.AreEqual(16, GeneratorHarness.SizeOf(bump), "u32 then u64: 4 bytes of padding, 16 in all");
            Assert.AreEqual(typeof(ulong), bump.GetField("b")!.FieldType);
            Assert.AreEqual(8, GeneratorHarness.OffsetOf(bump, "b"));

            // The new field takes the first reserved word (offset 16 + 32 + 32 + 4 * 3), the struct keeps its size.
            var capability = RuntimeType(run, "v4l2_capability");
            Assert.AreEqual(92, GeneratorHarness.OffsetOf(capability, "test_bump_flags"));
            Assert.AreEqual(96, GeneratorHarness.OffsetOf(capability, "reserved"));
            Assert.AreEqual(104, GeneratorHarness.SizeOf(capability));

            var ioctl = RuntimeType(run, "Ioctls").GetField("VIDIOC_TEST_BUMP")!.GetValue(null)!;
            var descriptor = ioctl.GetType().GetProperty("Descriptor")!.GetValue(ioctl)!;
            // _IOWR('V', 200, 16 bytes): direction 3 in bits 30-31, size 16 in bits 16-29, type 'V', number 200.
            Assert.AreEqual((3UL << 30) | (16UL << 16) | ((ulong)'V' << 8) | 200, descriptor.GetType().GetProperty("Request")!.GetValue(descriptor));
            Assert.AreEqual(bump, descriptor.GetType().GetProperty("PayloadType")!.GetValue(descriptor));
            Assert.AreEqual(descriptor, RuntimeType(run, "Ioctls").GetMethod("FindByNumber")!.Invoke(null, new object[] { 200 }));
        }
        finally
        {
            Directory.Delete(kernel, recursive: true);
        }
    }

    private static string CopyOfLinux61()
    {
        var source = Path.Combine(Repository.AbiHeaders, "linux-6.1");
        var target = Path.Combine(Path.GetTempPath(), "virtio-media-bump-" + Guid.NewGuid().ToString("N"));
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
        return target;
    }

    private static string ReplaceOnce(string text, string old, string replacement)
    {
        var at = text.IndexOf(old, StringComparison.Ordinal);
        Assert.IsTrue(at >= 0 && text.IndexOf(old, at + 1, StringComparison.Ordinal) < 0, $"'{old}' must occur exactly once");
        return text.Substring(0, at) + replacement + text.Substring(at + old.Length);
    }

    private static Type RuntimeType(GeneratorRun run, string name) =>
        run.Assembly.GetType(VirtioMedia.Generator.Model.HeaderSet.DefaultNamespace + "." + name) ?? throw new AssertFailedException($"no type {name}");

    /// <summary>The first elements where two lists part, for the failure message.</summary>
    private static string Difference<T>(EquatableArray<T> expected, EquatableArray<T> actual)
        where T : IEquatable<T>
    {
        var onlyExpected = expected.Except(actual).Take(5).Select(e => "x86_64 only: " + e);
        var onlyActual = actual.Except(expected).Take(5).Select(e => "arm64 only:  " + e);
        return "\n" + string.Join("\n", onlyExpected.Concat(onlyActual));
    }
}
