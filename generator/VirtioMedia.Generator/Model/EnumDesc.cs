namespace VirtioMedia.Generator.Model;

/// <summary>A named C enum with the underlying integer type clang gives it.</summary>
/// <param name="Name">The C# type name (the tag, or the typedef name of an unnamed enum).</param>
/// <param name="NativeName">The C spelling: <c>enum v4l2_field</c>, or the typedef name alone.</param>
public sealed record EnumDesc(string Name, string NativeName, string UnderlyingType, EquatableArray<EnumMemberDesc> Members, string Header);

/// <summary>An enumerator with its value as a C# literal.</summary>
public sealed record EnumMemberDesc(string Name, string Value);
