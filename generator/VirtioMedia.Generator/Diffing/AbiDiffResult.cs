using System;
using VirtioMedia.Generator.Model;

namespace VirtioMedia.Generator.Diffing;

/// <summary>What makes a change binary-incompatible for code built against the old headers.</summary>
public enum AbiBreakKind
{
    RecordRemoved,
    RecordSizeChanged,
    RecordAlignmentChanged,
    /// <summary>A struct became a union or the reverse.</summary>
    RecordKindChanged,
    FieldRemoved,
    FieldMoved,
    FieldResized,
    EnumRemoved,
    /// <summary>The enum's underlying integer type changed width.</summary>
    EnumUnderlyingSizeChanged,
    ConstantRemoved,
    ConstantValueChanged,
    IoctlRemoved,
    /// <summary>The request value, its number, direction or payload size changed.</summary>
    IoctlChanged,
}

/// <summary>One reason a diff is an ABI break.</summary>
/// <param name="Kind">What kind of break.</param>
/// <param name="Subject">The C entity concerned: <c>struct v4l2_format</c>, <c>struct v4l2_format.type</c>,
/// a constant or ioctl name.</param>
/// <param name="Detail">The old and new values, readable.</param>
public sealed record AbiBreak(AbiBreakKind Kind, string Subject, string Detail);

/// <summary>The entities only in the new model, only in the old one, and in both but different; each list
/// ordered by C name, ordinally.</summary>
public sealed record AbiDiffSection<TItem, TChange>(
    EquatableArray<TItem> Added,
    EquatableArray<TItem> Removed,
    EquatableArray<TChange> Changed)
    where TItem : IEquatable<TItem>
    where TChange : IEquatable<TChange>
{
    public bool IsEmpty => Added.Count == 0 && Removed.Count == 0 && Changed.Count == 0;
}

/// <summary>A field present in both versions of a record (matched by name) whose layout or type differs.</summary>
public sealed record FieldChange(FieldDesc Old, FieldDesc New)
{
    public bool OffsetChanged => Old.Offset != New.Offset;

    public bool SizeChanged => Old.Size != New.Size;

    public bool TypeChanged => !string.Equals(Old.NativeType, New.NativeType, StringComparison.Ordinal)
        || !string.Equals(Old.Type, New.Type, StringComparison.Ordinal);
}

/// <summary>
/// New fields laid into the bytes of an old reserved field (<c>reserved[4]</c> becoming
/// <c>num_delta_pocs_of_ref_rps_idx</c> + <c>reserved[3]</c>): compatible, since the record keeps its size and
/// every other field its place.
/// </summary>
/// <param name="Reserved">The old reserved field.</param>
/// <param name="Remainder">What is left of it under the same name, or null when it is used up.</param>
/// <param name="NewFields">The new fields now inside its bytes.</param>
public sealed record ReservedSpaceUse(FieldDesc Reserved, FieldDesc? Remainder, EquatableArray<FieldDesc> NewFields);

/// <summary>A record present in both models (matched by C# name) that differs.</summary>
/// <param name="Old">The old record.</param>
/// <param name="New">The new record.</param>
/// <param name="AddedFields">Fields only in the new record, including those in former reserved space.</param>
/// <param name="RemovedFields">Fields only in the old record, including reserved fields used up.</param>
/// <param name="ChangedFields">Fields in both whose offset, size or type changed.</param>
/// <param name="ReservedSpaceUses">Which of the changes above are reserved space taken into use.</param>
/// <param name="Breaks">The changes that break the ABI; empty when the change is compatible.</param>
public sealed record RecordChange(
    RecordDesc Old,
    RecordDesc New,
    EquatableArray<FieldDesc> AddedFields,
    EquatableArray<FieldDesc> RemovedFields,
    EquatableArray<FieldChange> ChangedFields,
    EquatableArray<ReservedSpaceUse> ReservedSpaceUses,
    EquatableArray<AbiBreak> Breaks)
{
    public string Name => New.Name;

    public bool IsBreak => Breaks.Count > 0;
}

/// <summary>An enumerator present in both versions of an enum with a different value.</summary>
public sealed record EnumMemberChange(string Name, string OldValue, string NewValue);

/// <summary>An enum present in both models that differs. Member removals and value changes break the ABI
/// through the constants they also are, so they are counted there, not here.</summary>
public sealed record EnumChange(
    EnumDesc Old,
    EnumDesc New,
    EquatableArray<EnumMemberDesc> AddedMembers,
    EquatableArray<EnumMemberDesc> RemovedMembers,
    EquatableArray<EnumMemberChange> ChangedMembers,
    EquatableArray<AbiBreak> Breaks)
{
    public string Name => New.Name;

    public bool IsBreak => Breaks.Count > 0;
}

/// <summary>A constant present in both models with a different value or C# type.</summary>
public sealed record ConstantChange(ConstantDesc Old, ConstantDesc New)
{
    public string Name => New.Name;

    public bool ValueChanged => Old.IsNegative != New.IsNegative || !string.Equals(Old.Value, New.Value, StringComparison.Ordinal);

    public bool TypeChanged => !string.Equals(Old.Type, New.Type, StringComparison.Ordinal);

    /// <summary>A type alone may change (int to uint) without a new value: compatible.</summary>
    public bool IsBreak => ValueChanged;
}

/// <summary>An ioctl present in both models that differs.</summary>
public sealed record IoctlChange(IoctlDesc Old, IoctlDesc New)
{
    public string Name => New.Name;

    public bool RequestChanged => Old.Request != New.Request;

    public bool NumberChanged => Old.Number != New.Number;

    public bool DirectionChanged => Old.Direction != New.Direction;

    public bool PayloadSizeChanged => Old.PayloadSize != New.PayloadSize;

    public bool PayloadTypeChanged => !string.Equals(Old.PayloadNativeType, New.PayloadNativeType, StringComparison.Ordinal)
        || !string.Equals(Old.PayloadType, New.PayloadType, StringComparison.Ordinal);

    /// <summary>A renamed payload type of the same size keeps the request value: compatible.</summary>
    public bool IsBreak => RequestChanged || NumberChanged || DirectionChanged || PayloadSizeChanged;
}

/// <summary>The ABI differences between two header models, and whether they break the ABI.</summary>
/// <param name="Records">Structs and unions.</param>
/// <param name="Enums">Named enums.</param>
/// <param name="Constants">Integer constants (macros and enumerators).</param>
/// <param name="Ioctls">VIDIOC_* requests.</param>
/// <param name="Breaks">Every breaking change: records, enums, constants, ioctls in turn; in each, the removed
/// entities by name, then the changed ones by name.</param>
public sealed record AbiDiffResult(
    AbiDiffSection<RecordDesc, RecordChange> Records,
    AbiDiffSection<EnumDesc, EnumChange> Enums,
    AbiDiffSection<ConstantDesc, ConstantChange> Constants,
    AbiDiffSection<IoctlDesc, IoctlChange> Ioctls,
    EquatableArray<AbiBreak> Breaks)
{
    public bool IsEmpty => Records.IsEmpty && Enums.IsEmpty && Constants.IsEmpty && Ioctls.IsEmpty;

    public bool IsAbiBreak => Breaks.Count > 0;
}
