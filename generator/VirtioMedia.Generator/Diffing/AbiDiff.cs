using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using VirtioMedia.Generator.Model;

namespace VirtioMedia.Generator.Diffing;

/// <summary>
/// Compares two header models and classifies the differences. A change is an ABI break when code built
/// against the old headers would read or write the wrong bytes or numbers with the new ones: a record
/// removed, resized, realigned, or one of its fields removed, moved or resized; a constant removed or given
/// another value; an ioctl removed or given another request, number, direction or payload size; an enum
/// removed or its underlying type resized. Additions are compatible, and so are new fields that take bytes
/// a reserved field held while the record keeps its size and every other field its place.
/// </summary>
/// <remarks>Pure: no I/O, and the result depends only on the two models. Entities are matched by name;
/// a renamed field that is not a reserved one counts as removed (a break) plus added.</remarks>
public static class AbiDiff
{
    private static readonly StringComparer Names = StringComparer.Ordinal;

    /// <summary>Compares <paramref name="oldModel"/> (what callers were built against) with
    /// <paramref name="newModel"/>.</summary>
    public static AbiDiffResult Compare(AbiModel oldModel, AbiModel newModel)
    {
        var breaks = new List<AbiBreak>();

        var records = Section(oldModel.Records, newModel.Records, r => r.Name, CompareRecord);
        breaks.AddRange(records.Removed.Select(r => new AbiBreak(AbiBreakKind.RecordRemoved, AbiDiffReport.RecordName(r), $"removed (was {Bytes(r.Size)})")));
        breaks.AddRange(records.Changed.SelectMany(c => c.Breaks));

        var enums = Section(oldModel.Enums, newModel.Enums, e => e.Name, CompareEnum);
        breaks.AddRange(enums.Removed.Select(e => new AbiBreak(AbiBreakKind.EnumRemoved, "enum " + e.Name, "removed")));
        breaks.AddRange(enums.Changed.SelectMany(c => c.Breaks));

        var constants = Section(oldModel.Constants, newModel.Constants, c => c.Name, CompareConstant);
        breaks.AddRange(constants.Removed.Select(c => new AbiBreak(AbiBreakKind.ConstantRemoved, c.Name, $"removed (was {c.Value})")));
        breaks.AddRange(constants.Changed.Where(c => c.IsBreak).Select(c =>
            new AbiBreak(AbiBreakKind.ConstantValueChanged, c.Name, $"value {c.Old.Value} -> {c.New.Value}")));

        var ioctls = Section(oldModel.Ioctls, newModel.Ioctls, i => i.Name, CompareIoctl);
        breaks.AddRange(ioctls.Removed.Select(i => new AbiBreak(AbiBreakKind.IoctlRemoved, i.Name, $"removed (was number {i.Number})")));
        breaks.AddRange(ioctls.Changed.Where(c => c.IsBreak).Select(c =>
            new AbiBreak(AbiBreakKind.IoctlChanged, c.Name, DescribeIoctlChange(c))));

        return new AbiDiffResult(records, enums, constants, ioctls, breaks.ToEquatableArray());
    }

    /// <summary>Whether a field is reserved space by the kernel's naming habits: <c>reserved</c>,
    /// <c>reserved2</c>, <c>__reserved</c>, <c>padding</c>, <c>rsvd</c>. Not <c>pad</c>, which V4L2 uses for a
    /// media pad index.</summary>
    public static bool IsReservedName(string fieldName)
    {
        var name = fieldName.TrimStart('_');
        return name.StartsWith("reserved", StringComparison.OrdinalIgnoreCase)
            || name.StartsWith("padding", StringComparison.OrdinalIgnoreCase)
            || name.StartsWith("rsvd", StringComparison.OrdinalIgnoreCase);
    }

    private static AbiDiffSection<TItem, TChange> Section<TItem, TChange>(
        IEnumerable<TItem> oldItems,
        IEnumerable<TItem> newItems,
        Func<TItem, string> name,
        Func<TItem, TItem, TChange?> compare)
        where TItem : class, IEquatable<TItem>
        where TChange : class, IEquatable<TChange>
    {
        var matched = Match(oldItems, newItems, name);
        var changed = matched.Pairs
            .Where(p => !p.Old.Equals(p.New))
            .Select(p => compare(p.Old, p.New))
            .Where(c => c is not null)
            .Select(c => c!);
        return new AbiDiffSection<TItem, TChange>(matched.Added.ToEquatableArray(), matched.Removed.ToEquatableArray(), changed.ToEquatableArray());
    }

    private sealed class Matched<T>
    {
        public List<T> Added { get; } = new();

        public List<T> Removed { get; } = new();

        public List<(T Old, T New)> Pairs { get; } = new();
    }

    /// <summary>
    /// Pairs items by name, ordered by name (ordinal). A name that occurs more than once (which a sound model
    /// never has) is paired occurrence by occurrence, so nothing is dropped silently.
    /// </summary>
    private static Matched<T> Match<T>(IEnumerable<T> oldItems, IEnumerable<T> newItems, Func<T, string> name)
    {
        var oldByKey = Keyed(oldItems, name);
        var newByKey = Keyed(newItems, name);
        var result = new Matched<T>();
        foreach (var key in oldByKey.Keys.Union(newByKey.Keys).OrderBy(k => k.Name, Names).ThenBy(k => k.Occurrence))
        {
            var inOld = oldByKey.TryGetValue(key, out var oldItem);
            var inNew = newByKey.TryGetValue(key, out var newItem);
            if (inOld && inNew)
            {
                result.Pairs.Add((oldItem!, newItem!));
            }
            else if (inOld)
            {
                result.Removed.Add(oldItem!);
            }
            else
            {
                result.Added.Add(newItem!);
            }
        }
        return result;
    }

    private static Dictionary<(string Name, int Occurrence), T> Keyed<T>(IEnumerable<T> items, Func<T, string> name)
    {
        var byKey = new Dictionary<(string Name, int Occurrence), T>();
        var seen = new Dictionary<string, int>(Names);
        foreach (var item in items)
        {
            var itemName = name(item);
            seen.TryGetValue(itemName, out var occurrence);
            seen[itemName] = occurrence + 1;
            byKey[(itemName, occurrence)] = item;
        }
        return byKey;
    }

    private static RecordChange? CompareRecord(RecordDesc oldRecord, RecordDesc newRecord)
    {
        var fields = Match(oldRecord.Fields, newRecord.Fields, f => f.Name);
        var changedFields = fields.Pairs
            .Select(p => new FieldChange(p.Old, p.New))
            .Where(c => c.OffsetChanged || c.SizeChanged || c.TypeChanged)
            .ToList();

        var subject = AbiDiffReport.RecordName(oldRecord);
        var breaks = new List<AbiBreak>();
        if (oldRecord.IsUnion != newRecord.IsUnion)
        {
            breaks.Add(new AbiBreak(AbiBreakKind.RecordKindChanged, subject, $"{AbiDiffReport.Kind(oldRecord)} -> {AbiDiffReport.Kind(newRecord)}"));
        }
        if (oldRecord.Size != newRecord.Size)
        {
            breaks.Add(new AbiBreak(AbiBreakKind.RecordSizeChanged, subject, $"size {Bytes(oldRecord.Size)} -> {Bytes(newRecord.Size)}"));
        }
        if (oldRecord.Alignment != newRecord.Alignment)
        {
            breaks.Add(new AbiBreak(AbiBreakKind.RecordAlignmentChanged, subject, $"alignment {oldRecord.Alignment} -> {newRecord.Alignment}"));
        }

        // Reserved space can only have been used when the envelope is the same; otherwise every moved or
        // resized field is reported as it is.
        var uses = oldRecord.Size == newRecord.Size && oldRecord.IsUnion == newRecord.IsUnion
            ? ReservedSpaceUses(oldRecord, fields.Added, fields.Removed, changedFields)
            : new List<ReservedSpaceUse>();
        var explainedOld = new HashSet<string>(uses.Select(u => u.Reserved.Name), Names);

        foreach (var removed in fields.Removed.Where(f => !explainedOld.Contains(f.Name)))
        {
            breaks.Add(new AbiBreak(AbiBreakKind.FieldRemoved, subject + "." + removed.Name, $"removed (was {Place(removed)})"));
        }
        foreach (var change in changedFields.Where(c => !explainedOld.Contains(c.Old.Name)))
        {
            if (change.OffsetChanged)
            {
                breaks.Add(new AbiBreak(AbiBreakKind.FieldMoved, subject + "." + change.Old.Name, $"offset {change.Old.Offset} -> {change.New.Offset}"));
            }
            if (change.SizeChanged)
            {
                breaks.Add(new AbiBreak(AbiBreakKind.FieldResized, subject + "." + change.Old.Name, $"size {Bytes(change.Old.Size)} -> {Bytes(change.New.Size)}"));
            }
        }

        var isChanged = breaks.Count > 0 || fields.Added.Count > 0 || fields.Removed.Count > 0 || changedFields.Count > 0;
        if (!isChanged)
        {
            // Only what the ABI does not see differs (the header it lives in, the C# packing hint).
            return null;
        }
        return new RecordChange(
            oldRecord,
            newRecord,
            fields.Added.ToEquatableArray(),
            fields.Removed.ToEquatableArray(),
            changedFields.ToEquatableArray(),
            uses.ToEquatableArray(),
            breaks.ToEquatableArray());
    }

    /// <summary>
    /// Old reserved fields that were used up or shrank within their own bytes, with the new fields now
    /// inside those bytes. A reserved field that changed with no new field in its place is not a use: it
    /// stays a plain removal or resize.
    /// </summary>
    private static List<ReservedSpaceUse> ReservedSpaceUses(
        RecordDesc oldRecord,
        List<FieldDesc> added,
        List<FieldDesc> removed,
        List<FieldChange> changed)
    {
        var uses = new List<ReservedSpaceUse>();
        var claimed = new HashSet<FieldDesc>();
        var removedNames = new HashSet<string>(removed.Select(f => f.Name), Names);
        var changedByName = changed.ToDictionary(c => c.Old.Name, Names);
        foreach (var reserved in oldRecord.Fields.Where(f => IsReservedName(f.Name)))
        {
            FieldDesc? remainder;
            if (changedByName.TryGetValue(reserved.Name, out var change) && (change.OffsetChanged || change.SizeChanged))
            {
                remainder = change.New;
                if (!Within(remainder, reserved))
                {
                    continue;
                }
            }
            else if (removedNames.Contains(reserved.Name))
            {
                remainder = null;
            }
            else
            {
                continue;
            }
            var inside = added.Where(f => !claimed.Contains(f) && Within(f, reserved)).ToList();
            if (inside.Count == 0)
            {
                continue;
            }
            claimed.UnionWith(inside);
            uses.Add(new ReservedSpaceUse(reserved, remainder, inside.ToEquatableArray()));
        }
        return uses;
    }

    private static bool Within(FieldDesc inner, FieldDesc outer) =>
        inner.Offset >= outer.Offset && (long)inner.Offset + inner.Size <= (long)outer.Offset + outer.Size;

    private static EnumChange? CompareEnum(EnumDesc oldEnum, EnumDesc newEnum)
    {
        var members = Match(oldEnum.Members, newEnum.Members, m => m.Name);
        var changedMembers = members.Pairs
            .Where(p => !string.Equals(p.Old.Value, p.New.Value, StringComparison.Ordinal))
            .Select(p => new EnumMemberChange(p.Old.Name, p.Old.Value, p.New.Value))
            .ToList();
        var breaks = new List<AbiBreak>();
        var underlyingChanged = !string.Equals(oldEnum.UnderlyingType, newEnum.UnderlyingType, StringComparison.Ordinal);
        var oldWidth = IntegerWidth(oldEnum.UnderlyingType);
        var newWidth = IntegerWidth(newEnum.UnderlyingType);
        if (underlyingChanged && (oldWidth is null || newWidth is null || oldWidth != newWidth))
        {
            breaks.Add(new AbiBreak(AbiBreakKind.EnumUnderlyingSizeChanged, "enum " + oldEnum.Name,
                $"underlying type {oldEnum.UnderlyingType} -> {newEnum.UnderlyingType}"));
        }
        if (!underlyingChanged && members.Added.Count == 0 && members.Removed.Count == 0 && changedMembers.Count == 0)
        {
            return null; // the header it lives in, or the order of its members, is all that differs
        }
        return new EnumChange(oldEnum, newEnum, members.Added.ToEquatableArray(), members.Removed.ToEquatableArray(),
            changedMembers.ToEquatableArray(), breaks.ToEquatableArray());
    }

    /// <summary>The width in bytes of a C# integer type name, or null for a name it does not know (any change
    /// to or from which then counts as a width change).</summary>
    private static int? IntegerWidth(string csharpType) => csharpType switch
    {
        "byte" or "sbyte" => 1,
        "short" or "ushort" => 2,
        "int" or "uint" => 4,
        "long" or "ulong" => 8,
        _ => null,
    };

    private static ConstantChange? CompareConstant(ConstantDesc oldConstant, ConstantDesc newConstant)
    {
        var change = new ConstantChange(oldConstant, newConstant);
        return change.ValueChanged || change.TypeChanged ? change : null;
    }

    private static IoctlChange? CompareIoctl(IoctlDesc oldIoctl, IoctlDesc newIoctl)
    {
        var change = new IoctlChange(oldIoctl, newIoctl);
        return change.IsBreak || change.PayloadTypeChanged ? change : null;
    }

    private static string DescribeIoctlChange(IoctlChange change)
    {
        var parts = new List<string>();
        if (change.RequestChanged)
        {
            parts.Add($"request 0x{change.Old.Request.ToString("X8", CultureInfo.InvariantCulture)} -> 0x{change.New.Request.ToString("X8", CultureInfo.InvariantCulture)}");
        }
        if (change.NumberChanged)
        {
            parts.Add($"number {change.Old.Number} -> {change.New.Number}");
        }
        if (change.DirectionChanged)
        {
            parts.Add($"direction {AbiDiffReport.Direction(change.Old.Direction)} -> {AbiDiffReport.Direction(change.New.Direction)}");
        }
        if (change.PayloadSizeChanged)
        {
            parts.Add($"payload size {Bytes(change.Old.PayloadSize)} -> {Bytes(change.New.PayloadSize)}");
        }
        return string.Join(", ", parts);
    }

    private static string Bytes(int count) => AbiDiffReport.Bytes(count);

    private static string Place(FieldDesc field) => AbiDiffReport.Place(field);
}
