namespace VirtioMedia.Generator.Model;

/// <summary>A named C enum with the underlying integer type clang gives it.</summary>
public sealed record EnumDesc(string Name, string UnderlyingType, EquatableArray<EnumMemberDesc> Members, string Header);

/// <summary>An enumerator with its value as a C# literal.</summary>
public sealed record EnumMemberDesc(string Name, string Value);
