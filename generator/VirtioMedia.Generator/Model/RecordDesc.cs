namespace VirtioMedia.Generator.Model;

/// <summary>A C struct or union, laid out as clang lays it out for the target.</summary>
/// <param name="Name">The C# type name: the C tag or typedef name, or <c>parent_field</c> for the unnamed
/// record type of a named field (<c>v4l2_buffer_m</c>).</param>
/// <param name="NativeName">The C spelling: <c>struct v4l2_buffer</c>, or just <c>union</c> for an unnamed type.</param>
/// <param name="Size">sizeof, in bytes.</param>
/// <param name="Alignment">alignof, in bytes.</param>
/// <param name="Pack">The packing to declare when the C alignment is below the natural one of the
/// fields (packed records), else 0.</param>
/// <param name="Fields">Every field at its byte offset, members of anonymous records flattened in.</param>
/// <param name="Header">The include path of the header that defines it.</param>
public sealed record RecordDesc(
    string Name,
    string NativeName,
    bool IsUnion,
    int Size,
    int Alignment,
    int Pack,
    EquatableArray<FieldDesc> Fields,
    string Header);

/// <summary>A field of a record at its absolute byte offset.</summary>
/// <param name="Name">The C field name, unescaped.</param>
/// <param name="Identifier">The C# identifier (the name with C# keywords escaped).</param>
/// <param name="Type">The C# type.</param>
/// <param name="NativeType">The C spelling of the field's type.</param>
/// <param name="Offset">The byte offset from the start of the record that holds it.</param>
/// <param name="Size">sizeof the field.</param>
public sealed record FieldDesc(string Name, string Identifier, string Type, string NativeType, int Offset, int Size);
