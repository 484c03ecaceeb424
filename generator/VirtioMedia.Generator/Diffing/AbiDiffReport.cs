using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using VirtioMedia.Generator.Model;

namespace VirtioMedia.Generator.Diffing;

/// <summary>
/// Renders an <see cref="AbiDiffResult"/> as a readable text report. The text depends only on the result and
/// the labels (ordinal order, invariant numbers, <c>\n</c> line ends), so two runs over the same headers
/// print the same bytes.
/// </summary>
public static class AbiDiffReport
{
    /// <summary>The report: one section per kind of entity, the breaking changes, then a summary line
    /// ending in <c>ABI break: yes</c> or <c>ABI break: no</c>.</summary>
    /// <param name="result">The diff.</param>
    /// <param name="oldLabel">How the old header set is named in the heading.</param>
    /// <param name="newLabel">How the new header set is named in the heading.</param>
    public static string Render(AbiDiffResult result, string oldLabel, string newLabel)
    {
        var text = new StringBuilder();
        text.Append("ABI diff\n");
        text.Append("  old: ").Append(oldLabel).Append('\n');
        text.Append("  new: ").Append(newLabel).Append('\n');

        Section(text, "Records", result.Records, record => $"{RecordName(record)}: {Bytes(record.Size)}");
        foreach (var change in result.Records.Changed)
        {
            RenderRecordChange(text, change);
        }

        Section(text, "Enums", result.Enums, item => $"enum {item.Name} ({item.UnderlyingType}, {Count(item.Members.Count, "member")})");
        foreach (var change in result.Enums.Changed)
        {
            var underlying = change.Old.UnderlyingType == change.New.UnderlyingType
                ? change.New.UnderlyingType
                : $"{change.Old.UnderlyingType} -> {change.New.UnderlyingType}";
            Line(text, 1, $"~ enum {change.Name} ({underlying}){Verdict(change.IsBreak)}");
            foreach (var member in change.AddedMembers)
            {
                Line(text, 3, $"+ {member.Name} = {member.Value}");
            }
            foreach (var member in change.RemovedMembers)
            {
                Line(text, 3, $"- {member.Name} = {member.Value}");
            }
            foreach (var member in change.ChangedMembers)
            {
                Line(text, 3, $"~ {member.Name}: {member.OldValue} -> {member.NewValue}");
            }
        }

        Section(text, "Constants", result.Constants, constant => $"{constant.Name} = {constant.Value} ({constant.Type})");
        foreach (var change in result.Constants.Changed)
        {
            Line(text, 1, $"~ {change.Name}: {change.Old.Value} ({change.Old.Type}) -> {change.New.Value} ({change.New.Type}){Verdict(change.IsBreak)}");
        }

        Section(text, "Ioctls", result.Ioctls, ioctl => $"{ioctl.Name}: {DescribeIoctl(ioctl)}");
        foreach (var change in result.Ioctls.Changed)
        {
            Line(text, 1, $"~ {change.Name}: {DescribeIoctl(change.Old)}{Verdict(change.IsBreak)}");
            Line(text, 3, $"-> {DescribeIoctl(change.New)}");
        }

        text.Append('\n');
        if (result.Breaks.Count == 0)
        {
            text.Append("ABI breaks: none\n");
        }
        else
        {
            text.Append("ABI breaks: ").Append(Number(result.Breaks.Count)).Append('\n');
            foreach (var item in result.Breaks)
            {
                Line(text, 1, $"! {Noun(item.Kind)}{item.Subject}: {item.Detail}");
            }
        }

        text.Append("Summary: ")
            .Append(Counts("records", result.Records)).Append(", ")
            .Append(Counts("enums", result.Enums)).Append(", ")
            .Append(Counts("constants", result.Constants)).Append(", ")
            .Append(Counts("ioctls", result.Ioctls)).Append("; ")
            .Append(Count(result.Breaks.Count, "breaking change")).Append("; ABI break: ")
            .Append(result.IsAbiBreak ? "yes" : "no").Append('\n');
        return text.ToString();
    }

    private static void RenderRecordChange(StringBuilder text, RecordChange change)
    {
        var size = change.Old.Size == change.New.Size
            ? Bytes(change.New.Size)
            : $"{Bytes(change.Old.Size)} -> {Bytes(change.New.Size)}";
        var kind = change.Old.IsUnion == change.New.IsUnion ? string.Empty : $", {Kind(change.Old)} -> {Kind(change.New)}";
        var alignment = change.Old.Alignment == change.New.Alignment ? string.Empty : $", aligned to {change.Old.Alignment} -> {change.New.Alignment}";
        Line(text, 1, $"~ {RecordName(change.Old)}: {size}{kind}{alignment}{Verdict(change.IsBreak)}");

        var inReservedSpace = new HashSet<string>(change.ReservedSpaceUses.SelectMany(u => u.NewFields).Select(f => f.Name));
        foreach (var field in change.AddedFields)
        {
            var note = inReservedSpace.Contains(field.Name) ? " (in former reserved space)" : string.Empty;
            Line(text, 3, $"+ {field.Name}: {Place(field)}{note}");
        }
        foreach (var field in change.RemovedFields)
        {
            Line(text, 3, $"- {field.Name}: {Place(field)}");
        }
        foreach (var field in change.ChangedFields)
        {
            Line(text, 3, $"~ {field.Old.Name}: {Place(field.Old)} -> {Place(field.New)}");
        }
        foreach (var use in change.ReservedSpaceUses)
        {
            var holders = use.NewFields.Select(f => f.Name).ToList();
            if (use.Remainder is not null)
            {
                holders.Add(use.Remainder.Name + " (the rest)");
            }
            Line(text, 3, $"reserved space used: {use.Reserved.Name} (offsets {Range(use.Reserved)}) now holds {string.Join(", ", holders)}");
        }
    }

    /// <summary>"__u8[4] at offset 324, 4 bytes".</summary>
    internal static string Place(FieldDesc field) => $"{field.NativeType} at offset {Number(field.Offset)}, {Bytes(field.Size)}";

    internal static string Bytes(int count) => Count(count, "byte");

    internal static string Direction(int direction) => direction switch
    {
        0 => "none",
        1 => "write",
        2 => "read",
        3 => "read/write",
        _ => "direction " + Number(direction),
    };

    /// <summary>The heading of a section with its counts, then its added (+) and removed (-) entities; the
    /// changed ones (~) follow, each kind in its own way.</summary>
    private static void Section<TItem, TChange>(StringBuilder text, string title, AbiDiffSection<TItem, TChange> section, Func<TItem, string> describe)
        where TItem : IEquatable<TItem>
        where TChange : IEquatable<TChange>
    {
        text.Append('\n').Append(title).Append(": ")
            .Append(Number(section.Added.Count)).Append(" added, ")
            .Append(Number(section.Removed.Count)).Append(" removed, ")
            .Append(Number(section.Changed.Count)).Append(" changed\n");
        foreach (var item in section.Added)
        {
            Line(text, 1, "+ " + describe(item));
        }
        foreach (var item in section.Removed)
        {
            Line(text, 1, "- " + describe(item));
        }
    }

    private static string Counts<TItem, TChange>(string title, AbiDiffSection<TItem, TChange> section)
        where TItem : IEquatable<TItem>
        where TChange : IEquatable<TChange> =>
        $"{title} +{Number(section.Added.Count)} -{Number(section.Removed.Count)} ~{Number(section.Changed.Count)}";

    private static void Line(StringBuilder text, int indent, string line) =>
        text.Append(' ', indent * 2).Append(line).Append('\n');

    /// <summary>Constants and ioctls share names (every VIDIOC_* macro is both); record and enum subjects
    /// already say what they are.</summary>
    private static string Noun(AbiBreakKind kind) => kind switch
    {
        AbiBreakKind.ConstantRemoved or AbiBreakKind.ConstantValueChanged => "constant ",
        AbiBreakKind.IoctlRemoved or AbiBreakKind.IoctlChanged => "ioctl ",
        _ => string.Empty,
    };

    private static string Verdict(bool isBreak) => isBreak ? " [ABI BREAK]" : " [compatible]";

    /// <summary>"struct v4l2_format", a typedef name alone, or "v4l2_buffer_m (unnamed union)" for the
    /// unnamed type of a named field.</summary>
    internal static string RecordName(RecordDesc record) =>
        record.NativeName == record.Name || record.NativeName.EndsWith(" " + record.Name, StringComparison.Ordinal)
            ? record.NativeName
            : $"{record.Name} (unnamed {Kind(record)})";

    internal static string Kind(RecordDesc record) => record.IsUnion ? "union" : "struct";

    private static string Range(FieldDesc field) => $"{Number(field.Offset)}..{Number(field.Offset + field.Size - 1)}";

    private static string DescribeIoctl(IoctlDesc ioctl)
    {
        var payload = ioctl.PayloadNativeType.Length == 0 ? "no payload" : $"{ioctl.PayloadNativeType} ({Bytes(ioctl.PayloadSize)})";
        return $"number {Number(ioctl.Number)}, {Direction(ioctl.Direction)}, {payload}, request 0x{ioctl.Request.ToString("X8", CultureInfo.InvariantCulture)}";
    }

    private static string Count(int count, string noun) => $"{Number(count)} {noun}{(count == 1 ? string.Empty : "s")}";

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);
}
