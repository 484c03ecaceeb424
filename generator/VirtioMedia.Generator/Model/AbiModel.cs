namespace VirtioMedia.Generator.Model;

/// <summary>What a header set defines, as plain values: the input of every emitter and of the ABI diff.</summary>
public sealed record AbiModel(
    string Namespace,
    EquatableArray<RecordDesc> Records,
    EquatableArray<EnumDesc> Enums,
    EquatableArray<ConstantDesc> Constants,
    EquatableArray<IoctlDesc> Ioctls,
    EquatableArray<int> InlineArrayLengths,
    EquatableArray<MacroNote> SkippedMacros,
    EquatableArray<DiagnosticDesc> Diagnostics);
