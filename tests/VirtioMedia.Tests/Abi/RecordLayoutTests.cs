using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace VirtioMedia.Tests.Abi;

/// <summary>Every generated record against gcc's layout of the same headers: size, alignment, and the
/// offset, size and signedness of every field path.</summary>
[TestClass]
public sealed class RecordLayoutTests
{
    // Records of the headers that are deliberately not generated, with the reason. None is expected: the
    // V4L2 UAPI has no bit-fields or flexible arrays, the two things that have no exact C# layout.
    private static readonly IReadOnlyDictionary<string, string> NotGenerated = new Dictionary<string, string>();

    private readonly TestContext _context;

    public RecordLayoutTests(TestContext context) => _context = context;

    [TestMethod]
    public void Every_record_has_the_gcc_layout()
    {
        var asserts = new StaticAsserts();
        var fieldCount = 0;
        foreach (var record in GeneratedRecords.All)
        {
            AddRecord(asserts, record);
            fieldCount += record.Fields.Count;
        }

        Gcc.AssertCompiles("records.c", asserts.ToString());
        _context.WriteLine($"gcc agrees on {GeneratedRecords.All.Count} records, {fieldCount} field paths ({asserts.Count} assertions)");
        Assert.AreEqual(HeaderText.RecordDefinitions().Count - NotGenerated.Count, GeneratedRecords.All.Count);
    }

    [TestMethod]
    public void Declared_field_offsets_are_where_the_runtime_stores_the_fields()
    {
        // The C assertions use the measured offsets; the [FieldOffset]s must say the same, or the
        // attributes that document the layout would lie.
        var wrong = GeneratedRecords.All
            .SelectMany(r => r.Fields.Where(f => f.DeclaredOffset != f.Offset || f.Length != ClrLayout.SizeOf(f.Type))
                .Select(f => $"{r.NativeName}.{f.Path}: declared at {f.DeclaredOffset}, stored at {f.Offset} over {f.Length} bytes, type of {ClrLayout.SizeOf(f.Type)} bytes"))
            .ToList();
        Assert.AreEqual(0, wrong.Count, string.Join("\n", wrong));
    }

    [TestMethod]
    public void Every_record_of_the_headers_is_checked()
    {
        var defined = HeaderText.RecordDefinitions();
        var duplicates = defined.GroupBy(d => d.NativeName).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.AreEqual(0, duplicates.Count, "defined twice: " + string.Join(", ", duplicates));

        var checkedNames = GeneratedRecords.All.Select(r => r.NativeName).ToHashSet(StringComparer.Ordinal);
        var missing = defined.Where(d => !checkedNames.Contains(d.NativeName) && !NotGenerated.ContainsKey(d.NativeName))
            .Select(d => $"{d.NativeName} ({d.Header})").ToList();
        Assert.AreEqual(0, missing.Count, "records of the headers with no generated, checked type:\n" + string.Join("\n", missing));

        var definedNames = defined.Select(d => d.NativeName).ToHashSet(StringComparer.Ordinal);
        var invented = checkedNames.Where(n => !definedNames.Contains(n)).ToList();
        Assert.AreEqual(0, invented.Count, "generated records that no header defines: " + string.Join(", ", invented));
        _context.WriteLine($"{defined.Count} records defined in the headers, {checkedNames.Count} checked against gcc");
    }

    [TestMethod]
    public void Every_generated_struct_is_a_checked_record()
    {
        // A struct without a C name could not be checked; an unnamed record that no field path reaches
        // would escape the member checks.
        var reached = GeneratedRecords.All.SelectMany(r => r.Fields).Select(f => Innermost(f.Type)).ToHashSet();
        var topLevel = GeneratedRecords.All.Select(r => r.Type).ToHashSet();
        var escaped = GeneratedRecords.RecordLikeTypes()
            .Where(t => !topLevel.Contains(t) && !(GeneratedRecords.IsUnnamedRecord(t) && reached.Contains(t)))
            .Select(t => $"{t.Name} [NativeTypeName({GeneratedRecords.NativeName(t) ?? "none"})]")
            .ToList();
        Assert.AreEqual(0, escaped.Count, "generated structs that no check covers:\n" + string.Join("\n", escaped));
    }

    private static void AddRecord(StaticAsserts asserts, GeneratedRecord record)
    {
        var c = record.NativeName;
        asserts.Equal($"sizeof({c})", ClrLayout.SizeOf(record.Type), $"{c}: sizeof");
        // Alignment is not implied by size and offsets: it is where .NET places the type inside anything it
        // lays out itself, and the only trace of a packed record's Pack (see ClrLayout.AlignmentOf).
        asserts.Equal($"_Alignof({c})", ClrLayout.AlignmentOf(record.Type), $"{c}: _Alignof");
        foreach (var field in record.Fields)
        {
            var member = $"(({c} *)0)->{field.Path}";
            var what = $"{c}.{field.Path}";
            asserts.Equal($"__builtin_offsetof({c}, {field.Path})", field.Offset, $"{what}: offset");
            asserts.Equal($"sizeof({member})", field.Length, $"{what}: sizeof");

            var type = field.Type;
            var element = member;
            while (GeneratedRecords.ArrayShape(type) is { } shape)
            {
                asserts.Equal($"sizeof({element}) / sizeof({element}[0])", shape.Length, $"{what}: element count");
                element += "[0]";
                type = shape.Element;
                asserts.Equal($"sizeof({element})", ClrLayout.SizeOf(type), $"{what}: element sizeof");
            }
            if (GeneratedRecords.IsUnnamedRecord(type))
            {
                asserts.Equal($"_Alignof(__typeof__({element}))", ClrLayout.AlignmentOf(type), $"{what}: _Alignof");
            }
            else if (IsSignednessComparable(field.NativeType, type))
            {
                asserts.Signedness(element, ClrLayout.IsSigned(type), $"{what}: signedness");
            }
        }
    }

    private static Type Innermost(Type type)
    {
        while (GeneratedRecords.ArrayShape(type) is { } shape)
        {
            type = shape.Element;
        }
        return type;
    }

    /// <summary>Whether the C# type promises a signedness that C must share. Plain char is byte by design
    /// (signed on x86-64, unsigned on arm64, one ABI for both) and pointers are ulong by design.</summary>
    private static bool IsSignednessComparable(string nativeType, Type type) =>
        (type.IsPrimitive || type.IsEnum)
        && !nativeType.StartsWith("char", StringComparison.Ordinal)
        && !nativeType.StartsWith("const char", StringComparison.Ordinal)
        && !nativeType.Contains('*');
}
