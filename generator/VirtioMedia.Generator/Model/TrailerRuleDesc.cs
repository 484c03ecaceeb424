namespace VirtioMedia.Generator.Model;

/// <summary>The trailer rules of a header set, resolved against its <see cref="AbiModel"/>.</summary>
/// <param name="Rules">One rule per payload struct that carries trailers.</param>
/// <param name="UnsupportedIoctls">The VIDIOC_* names the spec replaces by other mechanisms.</param>
/// <param name="Diagnostics">Problems in the description (VMG009); when any, nothing is emitted.</param>
public sealed record TrailerSetDesc(
    EquatableArray<TrailerRuleDesc> Rules,
    EquatableArray<string> UnsupportedIoctls,
    EquatableArray<DiagnosticDesc> Diagnostics)
{
    /// <summary>No rules: what a header set without a trailer description gets.</summary>
    public static TrailerSetDesc Empty { get; } = new(EquatableArray<TrailerRuleDesc>.Empty, EquatableArray<string>.Empty, EquatableArray<DiagnosticDesc>.Empty);
}

/// <summary>What follows one payload struct on the wire, with every field resolved to a byte offset.</summary>
/// <param name="Struct">The payload's C# type name (<c>v4l2_buffer</c>).</param>
/// <param name="PayloadSize">sizeof the payload.</param>
/// <param name="Array">The array the payload points to, or null.</param>
/// <param name="Sg">The SG lists that replace userspace pointers, or null.</param>
/// <param name="Uuid">The virtio object UUIDs, or null.</param>
/// <param name="Preserve">The fields a device returns exactly as the driver sent them.</param>
public sealed record TrailerRuleDesc(string Struct, int PayloadSize, TrailerArrayDesc? Array, TrailerSgDesc? Sg, TrailerUuidDesc? Uuid, EquatableArray<TrailerPreserveDesc> Preserve);

/// <summary>A condition on a 32-bit field of the payload: the field's value is one of <paramref name="Values"/>.
/// An offset of -1 means "always".</summary>
public sealed record TrailerConditionDesc(int Offset, EquatableArray<int> Values)
{
    /// <summary>The condition that always holds.</summary>
    public static TrailerConditionDesc Always { get; } = new(-1, EquatableArray<int>.Empty);
}

/// <summary>An array of <paramref name="ElementStruct"/> pointed to by a 64-bit field and counted by a 32-bit one.</summary>
public sealed record TrailerArrayDesc(
    int PointerOffset,
    int CountOffset,
    string ElementStruct,
    int ElementSize,
    int MaxCount,
    TrailerConditionDesc When);

/// <summary>SG lists: one per array element covering its 32-bit length field, or, without an active array,
/// one covering the payload's 32-bit length field (-1 when the payload has none).</summary>
public sealed record TrailerSgDesc(TrailerConditionDesc When, int LengthOffset, int ElementLengthOffset, bool DeviceReadableOnly);

/// <summary>16-byte UUIDs: one per array element, or one for the payload.</summary>
public sealed record TrailerUuidDesc(TrailerConditionDesc When, bool DeviceReadableOnly);

/// <summary>A field of the payload (or of every array element) that the device role writes back with the value the
/// request carried, whatever a handler left there (pointers and fd placeholders the device must not alter).</summary>
/// <param name="InElement">True for a field of each array element, false for a field of the payload.</param>
/// <param name="Offset">The field's byte offset in the payload or in an element.</param>
/// <param name="Size">The field's width, 4 or 8 bytes.</param>
/// <param name="When">When the field holds what is preserved, judged on the request's payload.</param>
public sealed record TrailerPreserveDesc(bool InElement, int Offset, int Size, TrailerConditionDesc When);
