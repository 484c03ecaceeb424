using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.AbiDiff;
using VirtioMedia.Generator.Diffing;
using VirtioMedia.Generator.Extraction;
using VirtioMedia.Generator.Model;
using Differ = VirtioMedia.Generator.Diffing.AbiDiff;

namespace VirtioMedia.Tests.Generator;

/// <summary>
/// The ABI diff over real header sets and over copies of Linux 6.1 edited in known ways: the truth is the
/// text of the headers (what the kernel changed between 6.1.4 and 6.1.x) or the edit the test made.
/// </summary>
[TestClass]
public sealed class AbiDiffTests
{
    private const string Arm64 = "aarch64-linux-gnu";
    private const string HevcParams = "v4l2_ctrl_hevc_decode_params";

    private static readonly Lazy<AbiModel> Linux61 = new(() => Parse(Linux61Folder));

    private static string Linux61Folder => Path.Combine(Repository.AbiHeaders, "linux-6.1");

    private static string Shim => Path.Combine(Repository.AbiHeaders, "libc-shim");

    private static string Linux614Cross => Path.Combine(Repository.HeaderSets, "linux-6.1.4-arm64-cross");

    // --- real header sets ---

    [TestMethod]
    public void Linux614_to_61_reports_exactly_the_hevc_reserved_space_use()
    {
        // The truth: every struct definition whose member list differs between the two trees, read as text.
        var oldStructs = StructMembers(Linux614Cross);
        var newStructs = StructMembers(Linux61Folder);
        var textuallyChanged = oldStructs.Keys.Union(newStructs.Keys)
            .Where(name => !oldStructs.TryGetValue(name, out var o) || !newStructs.TryGetValue(name, out var n) || !o.SequenceEqual(n))
            .ToList();
        CollectionAssert.AreEqual(new[] { HevcParams }, textuallyChanged, "the kernel changed one struct between these sets");
        var oldMembers = oldStructs[HevcParams].ToDictionary(MemberName);
        var newMembers = newStructs[HevcParams].ToDictionary(MemberName);
        var addedNames = newMembers.Keys.Except(oldMembers.Keys).OrderBy(n => n, StringComparer.Ordinal).ToList();
        var changedNames = newMembers.Keys.Intersect(oldMembers.Keys).Where(n => oldMembers[n] != newMembers[n]).ToList();
        Assert.AreEqual(0, oldMembers.Keys.Except(newMembers.Keys).Count());

        var result = Differ.Compare(Parse(Linux614Cross, Arm64), Linux61.Value);

        Assert.IsFalse(result.IsAbiBreak, Report(result));
        Assert.IsTrue(result.Enums.IsEmpty && result.Constants.IsEmpty && result.Ioctls.IsEmpty, Report(result));
        Assert.AreEqual(0, result.Records.Added.Count + result.Records.Removed.Count, Report(result));
        var change = result.Records.Changed.Single();
        Assert.AreEqual(HevcParams, change.Name);
        Assert.AreEqual(change.Old.Size, change.New.Size);
        CollectionAssert.AreEqual(addedNames, change.AddedFields.Select(f => f.Name).ToList());
        CollectionAssert.AreEqual(changedNames, change.ChangedFields.Select(f => f.Old.Name).ToList());
        Assert.AreEqual(0, change.RemovedFields.Count);

        // reserved[4] became one new byte and reserved[3] in the same four bytes.
        var use = change.ReservedSpaceUses.Single();
        Assert.AreEqual("reserved", use.Reserved.Name);
        Assert.AreEqual(4, use.Reserved.Size);
        Assert.AreEqual(3, use.Remainder!.Size);
        Assert.AreEqual(use.Reserved.Offset + 1, use.Remainder.Offset);
        var added = use.NewFields.Single();
        Assert.AreEqual("num_delta_pocs_of_ref_rps_idx", added.Name);
        Assert.AreEqual(use.Reserved.Offset, added.Offset);

        var text = AbiDiffReport.Render(result, "6.1.4", "6.1");
        StringAssert.Contains(text, "+ num_delta_pocs_of_ref_rps_idx: __u8 at offset " + added.Offset + ", 1 byte (in former reserved space)");
        StringAssert.EndsWith(text, "; 0 breaking changes; ABI break: no\n");
    }

    [TestMethod]
    public void Same_set_parsed_twice_gives_an_empty_diff()
    {
        var result = Differ.Compare(Linux61.Value, Parse(Linux61Folder));

        Assert.IsTrue(result.IsEmpty, Report(result));
        Assert.IsFalse(result.IsAbiBreak);
        StringAssert.EndsWith(AbiDiffReport.Render(result, "a", "b"),
            "Summary: records +0 -0 ~0, enums +0 -0 ~0, constants +0 -0 ~0, ioctls +0 -0 ~0; 0 breaking changes; ABI break: no\n");
    }

    [TestMethod]
    public void Arm64_copy_of_61_lays_out_like_x86_64()
    {
        // The two trees differ only in asm/ and stddef.h, none of which V4L2 layouts depend on for LP64.
        var result = Differ.Compare(Parse(Path.Combine(Repository.HeaderSets, "linux-6.1.192-arm64"), Arm64), Linux61.Value);

        Assert.IsTrue(result.IsEmpty, Report(result));
    }

    // --- synthetic edits of a copy of Linux 6.1 ---

    [TestMethod]
    public void Growing_a_struct_is_a_break()
    {
        var result = DiffAfterEdit("linux/videodev2.h", ("__u32	device_caps;\n\t__u32	reserved[3];", "__u32	device_caps;\n\t__u32	reserved[4];"));

        Assert.IsTrue(result.IsAbiBreak);
        var change = result.Records.Changed.Single();
        Assert.AreEqual("v4l2_capability", change.Name);
        Assert.AreEqual(change.Old.Size + 4, change.New.Size);
        // The request of VIDIOC_QUERYCAP encodes the payload size, so the ioctl and its macro's value change too.
        CollectionAssert.AreEquivalent(
            new[]
            {
                (AbiBreakKind.RecordSizeChanged, "struct v4l2_capability"),
                (AbiBreakKind.FieldResized, "struct v4l2_capability.reserved"),
                (AbiBreakKind.ConstantValueChanged, "VIDIOC_QUERYCAP"),
                (AbiBreakKind.IoctlChanged, "VIDIOC_QUERYCAP"),
            },
            result.Breaks.Select(b => (b.Kind, b.Subject)).ToList());
        var ioctl = result.Ioctls.Changed.Single();
        Assert.IsTrue(ioctl.PayloadSizeChanged && ioctl.RequestChanged && !ioctl.NumberChanged && !ioctl.DirectionChanged);
        Assert.AreEqual(change.New.Size, ioctl.New.PayloadSize);
    }

    [TestMethod]
    public void Moving_a_field_is_a_break()
    {
        var result = DiffAfterEdit("linux/videodev2.h", ("struct v4l2_rect {\n\t__s32   left;\n\t__s32   top;", "struct v4l2_rect {\n\t__s32   top;\n\t__s32   left;"));

        var change = result.Records.Changed.Single();
        Assert.AreEqual("v4l2_rect", change.Name);
        Assert.AreEqual(change.Old.Size, change.New.Size);
        var moved = change.ChangedFields.ToDictionary(f => f.Old.Name, f => (f.Old.Offset, f.New.Offset));
        Assert.AreEqual((0, 4), moved["left"]);
        Assert.AreEqual((4, 0), moved["top"]);
        Assert.AreEqual(2, moved.Count);
        CollectionAssert.AreEquivalent(
            new[] { (AbiBreakKind.FieldMoved, "struct v4l2_rect.left"), (AbiBreakKind.FieldMoved, "struct v4l2_rect.top") },
            result.Breaks.Select(b => (b.Kind, b.Subject)).ToList());
    }

    [TestMethod]
    public void Adding_a_struct_and_an_ioctl_is_compatible()
    {
        const string addition = "struct v4l2_abidiff_probe {\n\t__u32 index;\n\t__u32 reserved[3];\n};\n#define VIDIOC_ABIDIFF_PROBE _IOWR('V', 120, struct v4l2_abidiff_probe)\n";
        var result = DiffAfterEdit("linux/videodev2.h", ("#define BASE_VIDIOC_PRIVATE", addition + "#define BASE_VIDIOC_PRIVATE"));

        Assert.IsFalse(result.IsAbiBreak, Report(result));
        var record = result.Records.Added.Single();
        Assert.AreEqual("v4l2_abidiff_probe", record.Name);
        Assert.AreEqual(16, record.Size);
        var ioctl = result.Ioctls.Added.Single();
        Assert.AreEqual("VIDIOC_ABIDIFF_PROBE", ioctl.Name);
        Assert.AreEqual(120, ioctl.Number);
        Assert.AreEqual(3, ioctl.Direction);
        Assert.AreEqual(16, ioctl.PayloadSize);
        // _IOWR('V', 120, 16 bytes) = 3 << 30 | 16 << 16 | 'V' << 8 | 120.
        Assert.AreEqual((3UL << 30) | (16UL << 16) | ((ulong)'V' << 8) | 120UL, ioctl.Request);
        CollectionAssert.AreEqual(new[] { "VIDIOC_ABIDIFF_PROBE" }, result.Constants.Added.Select(c => c.Name).ToList());
        Assert.AreEqual(0, result.Records.Removed.Count + result.Records.Changed.Count + result.Ioctls.Removed.Count + result.Ioctls.Changed.Count);
        Assert.IsTrue(result.Enums.IsEmpty);
    }

    [TestMethod]
    public void Changing_a_constant_value_is_a_break()
    {
        var result = DiffAfterEdit("linux/videodev2.h", ("#define V4L2_CAP_VIDEO_CAPTURE		0x00000001", "#define V4L2_CAP_VIDEO_CAPTURE		0x00000100"));

        var change = result.Constants.Changed.Single();
        Assert.AreEqual("V4L2_CAP_VIDEO_CAPTURE", change.Name);
        Assert.IsTrue(change.ValueChanged);
        Assert.AreEqual(1UL, ParseLiteral(change.Old.Value));
        Assert.AreEqual(0x100UL, ParseLiteral(change.New.Value));
        Assert.AreEqual(AbiBreakKind.ConstantValueChanged, result.Breaks.Single().Kind);
        Assert.IsTrue(result.Records.IsEmpty && result.Ioctls.IsEmpty && result.Enums.IsEmpty);
    }

    [TestMethod]
    public void Removing_an_ioctl_is_a_break()
    {
        var result = DiffAfterEdit("linux/videodev2.h", ("#define VIDIOC_LOG_STATUS         _IO('V', 70)\n", string.Empty));

        var removed = result.Ioctls.Removed.Single();
        Assert.AreEqual("VIDIOC_LOG_STATUS", removed.Name);
        Assert.AreEqual(70, removed.Number);
        Assert.AreEqual(0, removed.Direction);
        Assert.IsTrue(result.IsAbiBreak);
        CollectionAssert.AreEquivalent(
            new[] { (AbiBreakKind.ConstantRemoved, "VIDIOC_LOG_STATUS"), (AbiBreakKind.IoctlRemoved, "VIDIOC_LOG_STATUS") },
            result.Breaks.Select(b => (b.Kind, b.Subject)).ToList());
        StringAssert.EndsWith(AbiDiffReport.Render(result, "a", "b"), "; 2 breaking changes; ABI break: yes\n");
    }

    [TestMethod]
    public void A_field_split_out_of_reserved_space_is_compatible()
    {
        var result = DiffAfterEdit("linux/videodev2.h", ("__u32	device_caps;\n\t__u32	reserved[3];", "__u32	device_caps;\n\t__u32	abidiff_flags;\n\t__u32	reserved[2];"));

        Assert.IsFalse(result.IsAbiBreak, Report(result));
        var change = result.Records.Changed.Single();
        var use = change.ReservedSpaceUses.Single();
        Assert.AreEqual(12, use.Reserved.Size);
        Assert.AreEqual(use.Reserved.Offset, use.NewFields.Single().Offset);
        Assert.AreEqual(use.Reserved.Offset + 4, use.Remainder!.Offset);
        Assert.AreEqual(8, use.Remainder.Size);
        Assert.IsTrue(result.Ioctls.IsEmpty, "the payload size of VIDIOC_QUERYCAP is unchanged");
    }

    [TestMethod]
    public void Reserved_array_renamed_whole_is_compatible_but_a_plain_rename_is_a_break()
    {
        var reservedRenamed = DiffAfterEdit("linux/videodev2.h", ("__u32	device_caps;\n\t__u32	reserved[3];", "__u32	device_caps;\n\t__u32	abidiff_words[3];"));
        Assert.IsFalse(reservedRenamed.IsAbiBreak, Report(reservedRenamed));
        var use = reservedRenamed.Records.Changed.Single().ReservedSpaceUses.Single();
        Assert.IsNull(use.Remainder);
        Assert.AreEqual("abidiff_words", use.NewFields.Single().Name);

        var fieldRenamed = DiffAfterEdit("linux/videodev2.h", ("__u32   version;\n\t__u32	capabilities;", "__u32   abidiff_version;\n\t__u32	capabilities;"));
        Assert.AreEqual((AbiBreakKind.FieldRemoved, "struct v4l2_capability.version"), fieldRenamed.Breaks.Select(b => (b.Kind, b.Subject)).Single());
    }

    [TestMethod]
    public void Reserved_space_shrinking_with_nothing_in_its_place_is_a_break()
    {
        // Made on the model: in C the freed bytes would have to be named to keep the size.
        var baseline = Linux61.Value;
        var capability = baseline.Records.Single(r => r.Name == "v4l2_capability");
        var reserved = capability.Fields.Single(f => f.Name == "reserved");
        var shrunk = capability with { Fields = capability.Fields.Select(f => f == reserved ? f with { Size = 8, NativeType = "__u32[2]" } : f).ToEquatableArray() };
        var edited = baseline with { Records = baseline.Records.Select(r => r == capability ? shrunk : r).ToEquatableArray() };

        var result = Differ.Compare(baseline, edited);

        Assert.AreEqual((AbiBreakKind.FieldResized, "struct v4l2_capability.reserved"), result.Breaks.Select(b => (b.Kind, b.Subject)).Single());
        Assert.AreEqual(0, result.Records.Changed.Single().ReservedSpaceUses.Count);
    }

    [TestMethod]
    public void Payload_type_renamed_with_the_same_size_is_compatible()
    {
        var baseline = Linux61.Value;
        var querycap = baseline.Ioctls.Single(i => i.Name == "VIDIOC_QUERYCAP");
        var renamed = baseline with
        {
            Ioctls = baseline.Ioctls.Select(i => i == querycap ? i with { PayloadNativeType = "struct v4l2_capability2", PayloadType = "v4l2_capability2" } : i).ToEquatableArray(),
        };

        var result = Differ.Compare(baseline, renamed);

        var change = result.Ioctls.Changed.Single();
        Assert.IsTrue(change.PayloadTypeChanged);
        Assert.IsFalse(result.IsAbiBreak);
    }

    // --- the command line ---

    [TestMethod]
    public void Cli_exit_codes()
    {
        var demo = RunCli(Linux614Cross, Linux61Folder);
        Assert.AreEqual(Program.Compatible, demo.ExitCode, demo.Error);
        StringAssert.Contains(demo.Output, "~ struct v4l2_ctrl_hevc_decode_params: 328 bytes [compatible]");
        StringAssert.EndsWith(demo.Output, "ABI break: no\n");

        var broken = CopyOfLinux61(("linux/videodev2.h", ("#define VIDIOC_LOG_STATUS         _IO('V', 70)\n", string.Empty)));
        try
        {
            var breaking = RunCli(Linux61Folder, broken, "--shim", Shim);
            Assert.AreEqual(Program.AbiBreak, breaking.ExitCode, breaking.Error);
            StringAssert.EndsWith(breaking.Output, "ABI break: yes\n");
            // Old and new swapped: an added ioctl is compatible.
            Assert.AreEqual(Program.Compatible, RunCli(broken, Linux61Folder, "--shim", Shim).ExitCode);
        }
        finally
        {
            Directory.Delete(broken, recursive: true);
        }

        Assert.AreEqual(Program.UsageOrParseError, RunCli(Linux61Folder).ExitCode, "NEW missing");
        Assert.AreEqual(Program.UsageOrParseError, RunCli(Linux61Folder, Linux61Folder, "--no-such-option").ExitCode);
        var missing = RunCli(Path.Combine(Repository.HeaderSets, "no-such-set"), Linux61Folder);
        Assert.AreEqual(Program.UsageOrParseError, missing.ExitCode);
        StringAssert.Contains(missing.Error, "no-such-set");
        Assert.AreEqual(Program.UsageOrParseError, RunCli(Linux61Folder, Linux61Folder, "--shim", Repository.HeaderSets).ExitCode, "a shim without sys/time.h");

        var unparsable = CopyOfLinux61(("linux/videodev2.h", ("struct v4l2_rect {", "struct v4l2_rect { this is not C;")));
        try
        {
            var failed = RunCli(Linux61Folder, unparsable, "--shim", Shim);
            Assert.AreEqual(Program.UsageOrParseError, failed.ExitCode);
            StringAssert.Contains(failed.Error, "NEW (x86_64-linux-gnu): VMG003: linux/videodev2.h:");
            Assert.AreEqual(string.Empty, failed.Output);
        }
        finally
        {
            Directory.Delete(unparsable, recursive: true);
        }
    }

    // --- helpers ---

    private static AbiModel Parse(string folder, string target = HeaderSet.DefaultTarget)
    {
        var model = HeaderParser.Parse(HeaderDirectories.LoadKernelSet(folder, Shim, target));
        Assert.AreEqual(0, model.Diagnostics.Count, string.Join("\n", model.Diagnostics.Select(d => d.Message)));
        return model;
    }

    /// <summary>Linux 6.1 against a copy of it with the edits made.</summary>
    private static AbiDiffResult DiffAfterEdit(string header, params (string From, string To)[] edits)
    {
        var copy = CopyOfLinux61(edits.Select(e => (header, e)).ToArray());
        try
        {
            return Differ.Compare(Linux61.Value, Parse(copy));
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    private static string CopyOfLinux61(params (string Header, (string From, string To) Edit)[] edits)
    {
        var copy = Path.Combine(Path.GetTempPath(), "abidiff-" + Guid.NewGuid().ToString("N"));
        foreach (var file in Directory.EnumerateFiles(Linux61Folder, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(Linux61Folder, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        foreach (var (header, (from, to)) in edits)
        {
            var path = Path.Combine(copy, header);
            var text = File.ReadAllText(path);
            var at = text.IndexOf(from, StringComparison.Ordinal);
            // The edit must hit exactly one place, or the test would silently compare something else.
            Assert.IsTrue(at >= 0 && text.IndexOf(from, at + 1, StringComparison.Ordinal) < 0, $"'{from}' is not found exactly once in {header}");
            File.WriteAllText(path, text.Substring(0, at) + to + text.Substring(at + from.Length));
        }
        return copy;
    }

    private static (int ExitCode, string Output, string Error) RunCli(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = Program.Run(args, output, error);
        return (exitCode, output.ToString(), error.ToString());
    }

    private static string Report(AbiDiffResult result) => AbiDiffReport.Render(result, "old", "new");

    private static ulong ParseLiteral(string literal) => literal.StartsWith("0x", StringComparison.Ordinal)
        ? Convert.ToUInt64(literal.Substring(2), 16)
        : ulong.Parse(literal, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Every <c>struct name { ... }</c> definition in a header tree, as its list of member declarations with
    /// comments, preprocessor lines and spacing removed. Text only: no compiler involved.
    /// </summary>
    private static Dictionary<string, List<string>> StructMembers(string folder)
    {
        var structs = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(folder, "*.h", SearchOption.AllDirectories))
        {
            var text = Regex.Replace(File.ReadAllText(file), @"/\*.*?\*/|//[^\n]*", " ", RegexOptions.Singleline);
            text = Regex.Replace(text, @"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", RegexOptions.Multiline);
            foreach (Match match in Regex.Matches(text, @"\bstruct\s+(\w+)\s*\{"))
            {
                var depth = 1;
                var end = match.Index + match.Length;
                for (; end < text.Length && depth > 0; end++)
                {
                    depth += text[end] == '{' ? 1 : text[end] == '}' ? -1 : 0;
                }
                var body = text.Substring(match.Index + match.Length, end - 1 - match.Index - match.Length);
                structs[match.Groups[1].Value] = body.Split(';')
                    .Select(d => Regex.Replace(d, @"\s+", " ").Trim())
                    .Where(d => d.Length > 0)
                    .ToList();
            }
        }
        return structs;
    }

    private static string MemberName(string declaration) => Regex.Match(declaration, @"(\w+)\s*(?:\[[^\]]*\]\s*)*$").Groups[1].Value;
}
