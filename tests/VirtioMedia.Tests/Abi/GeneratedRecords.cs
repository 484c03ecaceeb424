using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VirtioMedia.Abi;

namespace VirtioMedia.Tests.Abi;

/// <summary>A C record of the generated ABI: a struct with a C tag or typedef name.</summary>
/// <param name="Type">The generated struct.</param>
/// <param name="NativeName">How C spells the type: <c>struct v4l2_buffer</c>, <c>__kernel_fsid_t</c>.</param>
/// <param name="Fields">Every field path, members of unnamed record types included.</param>
internal sealed record GeneratedRecord(Type Type, string NativeName, IReadOnlyList<GeneratedField> Fields);

/// <summary>One field of a record, at any depth.</summary>
/// <param name="Path">The C member designator from the record: <c>m.userptr</c>, <c>request_fd</c>.</param>
/// <param name="Type">The generated type of the field.</param>
/// <param name="NativeType">The field's [NativeTypeName].</param>
/// <param name="DeclaredOffset">The sum of the [FieldOffset]s along the path.</param>
/// <param name="Offset">The offset the runtime stores the field at, measured.</param>
/// <param name="Length">How many bytes the runtime stores for it, measured.</param>
internal sealed record GeneratedField(string Path, Type Type, string NativeType, int DeclaredOffset, int Offset, int Length);

/// <summary>The records of VirtioMedia.Generated, found by reflection.</summary>
internal static class GeneratedRecords
{
    public static Assembly Assembly { get; } = typeof(Constants).Assembly;

    /// <summary>Every top-level C record: [NativeTypeName] is <c>struct TAG</c>, <c>union TAG</c>, or a
    /// typedef name (no space). The unnamed record types of fields (plain <c>struct</c> or <c>union</c>)
    /// are not among them: they are reached through the fields that have them.</summary>
    public static IReadOnlyList<GeneratedRecord> All { get; } = Assembly.GetExportedTypes()
        .Where(t => NativeName(t) is { } name && IsTopLevelRecordName(name))
        .OrderBy(t => t.Name, StringComparer.Ordinal)
        .Select(t => new GeneratedRecord(t, NativeName(t)!, FieldsOf(t)))
        .ToArray();

    /// <summary>The public value types of the ABI namespace that describe C records: all but enums and
    /// the generic inline arrays.</summary>
    public static IEnumerable<Type> RecordLikeTypes() => Assembly.GetExportedTypes()
        .Where(t => t.IsValueType && !t.IsEnum && !t.IsGenericTypeDefinition && t.Namespace == "VirtioMedia.Abi");

    public static string? NativeName(MemberInfo member) => member.GetCustomAttribute<NativeTypeNameAttribute>()?.Name;

    public static bool IsTopLevelRecordName(string nativeName) =>
        nativeName.StartsWith("struct ", StringComparison.Ordinal)
        || nativeName.StartsWith("union ", StringComparison.Ordinal)
        || (!nativeName.Contains(' ') && !IsUnnamedRecordName(nativeName));

    public static bool IsUnnamedRecordName(string nativeName) => nativeName is "struct" or "union";

    /// <summary>Whether <paramref name="type"/> is the generated type of an unnamed C struct or union.</summary>
    public static bool IsUnnamedRecord(Type type) => NativeName(type) is { } name && IsUnnamedRecordName(name);

    /// <summary>The length and element type of a FixedArrayN, or null for any other type.</summary>
    public static (int Length, Type Element)? ArrayShape(Type type)
    {
        if (type.GetCustomAttribute<InlineArrayAttribute>() is not { } inline)
        {
            return null;
        }
        var element = type.GetFields(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public).Single().FieldType;
        return (inline.Length, element);
    }

    private static IReadOnlyList<GeneratedField> FieldsOf(Type record)
    {
        var fields = new List<GeneratedField>();
        Collect(record, string.Empty, 0, 0, fields);
        return fields;
    }

    private static void Collect(Type holder, string prefix, int declaredBase, int measuredBase, List<GeneratedField> into)
    {
        foreach (var field in holder.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            var declared = declaredBase + (field.GetCustomAttribute<FieldOffsetAttribute>()?.Value ?? -1);
            var (offset, length) = ClrLayout.Measure(holder, field);
            var path = prefix + field.Name;
            into.Add(new GeneratedField(path, field.FieldType, NativeName(field) ?? string.Empty, declared, measuredBase + offset, length));

            // An unnamed record has no top-level check of its own, so its members are checked as members of
            // the record that holds it, with the C path through the field (fmt.pix_mp). Element 0 of an
            // array of one stands for every element: their layout is the same.
            var type = field.FieldType;
            var subscript = string.Empty;
            while (ArrayShape(type) is { } shape)
            {
                type = shape.Element;
                subscript += "[0]";
            }
            if (IsUnnamedRecord(type))
            {
                Collect(type, path + subscript + ".", declared, measuredBase + offset, into);
            }
        }
    }
}
