using System;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace VirtioMedia.Tests.Generator;

/// <summary>
/// Structs and unions of Headers/fixture/records.h: the parser's model, the generated C#, and the compiled
/// types the runtime lays out. The expected layouts are the C ABI's (LP64), checked with gcc's sizeof and
/// offsetof on the same header.
/// </summary>
[TestClass]
public sealed class FixtureRecordTests
{
    private sealed record Expected(string Name, int Size, int Alignment, params (string Field, int Offset)[] Fields);

    private static readonly Expected[] Layouts =
    {
        new("fx_union", 8, 8, ("word", 0), ("bytes", 0), ("wide", 0)),
        new("fx_packed", 7, 1, ("tag", 0), ("value", 1), ("extra", 5)),
        new("fx_packed_aligned", 6, 2, ("tag", 0), ("value", 1)),
        new("fx_nested", 40, 8, ("head", 0), ("kind", 8), ("as_u32", 16), ("as_bytes", 16), ("as_u64", 16), ("after", 24), ("tail", 32)),
        new("fx_outer", 32, 8, ("kind", 0), ("value", 8), ("pos", 16), ("deep", 24)),
        new("fx_outer_value", 8, 8, ("small", 0), ("big", 0)),
        new("fx_outer_pos", 4, 2, ("x", 0), ("y", 2)),
        new("fx_outer_deep", 8, 4, ("flag", 0), ("inner", 4)),
        new("fx_outer_deep_inner", 4, 4, ("a", 0), ("b", 0)),
        new("fx_point", 8, 4, ("x", 0), ("y", 4)),
        new("fx_polygon", 68, 4, ("count", 0), ("points", 4), ("grid", 28), ("cube", 36)),
        new("fx_keywords", 40, 8, ("class", 0), ("object", 4), ("string", 8), ("event", 16), ("in", 24), ("fixed", 26), ("record", 28), ("value", 32)),
        new("fx_anon_t", 8, 4, ("id", 0), ("flags", 4)),
        new("fx_uses_typedef", 40, 8, ("item", 0), ("items", 8), ("pointer", 24), ("name", 32)),
        new("fx_with_enums", 24, 8, ("mode", 0), ("wide", 8), ("small", 16)),
        new("fx_query", 16, 8, ("id", 0), ("flags", 4), ("cookie", 8)),
    };

    [TestMethod]
    public void Fixture_parses_without_diagnostics()
    {
        var model = FixtureHeaders.Model;
        Assert.AreEqual(0, model.Diagnostics.Count, string.Join("\n", model.Diagnostics.Select(d => d.Message)));
        CollectionAssert.AreEquivalent(Layouts.Select(l => l.Name).ToList(), model.Records.Select(r => r.Name).ToList());
    }

    [TestMethod]
    public void Model_has_the_C_layout_of_every_record()
    {
        foreach (var expected in Layouts)
        {
            var record = FixtureHeaders.Record(expected.Name);
            Assert.AreEqual(expected.Size, record.Size, $"sizeof {expected.Name}");
            Assert.AreEqual(expected.Alignment, record.Alignment, $"alignof {expected.Name}");
            CollectionAssert.AreEqual(
                expected.Fields.Select(f => $"{f.Field}@{f.Offset}").ToList(),
                record.Fields.Select(f => $"{f.Name}@{f.Offset}").ToList(),
                $"fields of {expected.Name}, in declaration order");
        }
    }

    [TestMethod]
    public void Compiled_structs_have_the_C_size_and_field_offsets()
    {
        var run = FixtureHeaders.Run;
        Assert.AreEqual(0, run.CompilationProblems.Count, string.Join("\n", run.CompilationProblems));
        foreach (var expected in Layouts)
        {
            var type = FixtureHeaders.GeneratedType(expected.Name);
            Assert.AreEqual(expected.Size, GeneratorHarness.SizeOf(type), $"runtime size of {expected.Name}");
            foreach (var (field, offset) in expected.Fields)
            {
                Assert.AreEqual(offset, GeneratorHarness.OffsetOf(type, field), $"{expected.Name}.{field}");
            }
        }
    }

    [TestMethod]
    public void Unions_put_every_member_at_zero_and_are_marked()
    {
        foreach (var name in new[] { "fx_union", "fx_outer_value", "fx_outer_deep_inner" })
        {
            Assert.IsTrue(FixtureHeaders.Record(name).IsUnion, name);
        }
        Assert.IsFalse(FixtureHeaders.Record("fx_outer").IsUnion);
        Assert.AreEqual("union fx_union", FixtureHeaders.Record("fx_union").NativeName);
    }

    [TestMethod]
    public void Packed_records_declare_Pack_and_their_exact_size()
    {
        Assert.AreEqual(1, FixtureHeaders.Record("fx_packed").Pack);
        Assert.AreEqual(2, FixtureHeaders.Record("fx_packed_aligned").Pack);
        foreach (var name in Layouts.Select(l => l.Name).Except(new[] { "fx_packed", "fx_packed_aligned" }))
        {
            Assert.AreEqual(0, FixtureHeaders.Record(name).Pack, $"{name} is not packed");
        }

        var records = FixtureHeaders.Run.Source("Records.g.cs");
        StringAssert.Matches(records, StructDeclaration("fx_packed", "Size = 7, Pack = 1"));
        StringAssert.Matches(records, StructDeclaration("fx_packed_aligned", "Size = 6, Pack = 2"));
        StringAssert.Matches(records, StructDeclaration("fx_point", "Size = 8"));
        Assert.AreEqual(1, FixtureHeaders.GeneratedType("fx_packed").StructLayoutAttribute!.Pack);
        Assert.AreEqual(2, FixtureHeaders.GeneratedType("fx_packed_aligned").StructLayoutAttribute!.Pack);
    }

    [TestMethod]
    public void Anonymous_members_flatten_into_the_parent_at_absolute_offsets()
    {
        // No type is generated for the anonymous struct and union of fx_nested: their members are fx_nested's.
        Assert.IsFalse(FixtureHeaders.Model.Records.Any(r => r.Name.StartsWith("fx_nested_", StringComparison.Ordinal)));
        Assert.AreEqual("ushort", FixtureHeaders.Field("fx_nested", "kind").Type);
        Assert.AreEqual("FixedArray8<byte>", FixtureHeaders.Field("fx_nested", "as_bytes").Type);
        Assert.AreEqual(8, FixtureHeaders.Field("fx_nested", "as_u64").Size);
    }

    [TestMethod]
    public void Named_fields_of_unnamed_records_get_parent_field_types()
    {
        Assert.AreEqual("fx_outer_value", FixtureHeaders.Field("fx_outer", "value").Type);
        Assert.AreEqual("union", FixtureHeaders.Field("fx_outer", "value").NativeType);
        Assert.AreEqual("union", FixtureHeaders.Record("fx_outer_value").NativeName);
        Assert.AreEqual("FixedArray2<fx_outer_pos>", FixtureHeaders.Field("fx_outer", "pos").Type);
        Assert.AreEqual("struct", FixtureHeaders.Record("fx_outer_pos").NativeName);
        Assert.AreEqual("fx_outer_deep", FixtureHeaders.Field("fx_outer", "deep").Type);
        Assert.AreEqual("fx_outer_deep_inner", FixtureHeaders.Field("fx_outer_deep", "inner").Type);
        Assert.AreEqual(typeof(ulong), FixtureHeaders.GeneratedType("fx_outer_value").GetField("big")!.FieldType);
    }

    [TestMethod]
    public void Arrays_of_structs_and_multidimensional_arrays_nest_inline_arrays()
    {
        Assert.AreEqual("FixedArray3<fx_point>", FixtureHeaders.Field("fx_polygon", "points").Type);
        Assert.AreEqual("struct fx_point[3]", FixtureHeaders.Field("fx_polygon", "points").NativeType);
        Assert.AreEqual("FixedArray2<FixedArray3<byte>>", FixtureHeaders.Field("fx_polygon", "grid").Type);
        Assert.AreEqual("__u8[2][3]", FixtureHeaders.Field("fx_polygon", "grid").NativeType);
        Assert.AreEqual("FixedArray2<FixedArray2<FixedArray2<uint>>>", FixtureHeaders.Field("fx_polygon", "cube").Type);
        Assert.AreEqual("FixedArray2<fx_anon_t>", FixtureHeaders.Field("fx_uses_typedef", "items").Type);
        Assert.AreEqual("FixedArray3<byte>", FixtureHeaders.Field("fx_uses_typedef", "name").Type, "char is byte");
        Assert.AreEqual("ulong", FixtureHeaders.Field("fx_uses_typedef", "pointer").Type, "pointers are 64-bit values");

        // Every length used once is generated once, and the runtime sizes of the nested arrays are the C ones.
        CollectionAssert.AreEqual(new[] { 2, 3, 4, 8 }, FixtureHeaders.Model.InlineArrayLengths.ToArray());
        var polygon = FixtureHeaders.GeneratedType("fx_polygon");
        Assert.AreEqual(24, GeneratorHarness.SizeOf(polygon.GetField("points")!.FieldType));
        Assert.AreEqual(6, GeneratorHarness.SizeOf(polygon.GetField("grid")!.FieldType));
        Assert.AreEqual(32, GeneratorHarness.SizeOf(polygon.GetField("cube")!.FieldType));
    }

    [TestMethod]
    public void CSharp_keywords_are_escaped_and_contextual_ones_are_not()
    {
        var escaped = new[] { "class", "object", "string", "event", "in", "fixed" };
        foreach (var name in escaped)
        {
            Assert.AreEqual("@" + name, FixtureHeaders.Field("fx_keywords", name).Identifier);
        }
        Assert.AreEqual("record", FixtureHeaders.Field("fx_keywords", "record").Identifier);
        Assert.AreEqual("value", FixtureHeaders.Field("fx_keywords", "value").Identifier);

        var records = FixtureHeaders.Run.Source("Records.g.cs");
        StringAssert.Contains(records, "public uint @class;");
        StringAssert.Contains(records, "public FixedArray4<byte> @string;");
        StringAssert.Contains(records, "public uint record;");
    }

    [TestMethod]
    public void Typedef_of_an_anonymous_struct_takes_the_typedef_name()
    {
        var record = FixtureHeaders.Record("fx_anon_t");
        Assert.AreEqual("fx_anon_t", record.NativeName, "C spells it without a tag");
        Assert.AreEqual("fx_anon_t", FixtureHeaders.Field("fx_uses_typedef", "item").Type);
        StringAssert.Matches(FixtureHeaders.Run.Source("Records.g.cs"), StructDeclaration("fx_anon_t", "Size = 8", "fx_anon_t"));
    }

    [TestMethod]
    public void Every_field_records_its_C_spelling_and_size()
    {
        Assert.AreEqual("__u16", FixtureHeaders.Field("fx_packed", "extra").NativeType);
        Assert.AreEqual("fx_anon_t[2]", FixtureHeaders.Field("fx_uses_typedef", "items").NativeType);
        Assert.AreEqual("struct fx_point *", FixtureHeaders.Field("fx_uses_typedef", "pointer").NativeType);
        Assert.AreEqual("enum fx_enum_long", FixtureHeaders.Field("fx_with_enums", "wide").NativeType);
        foreach (var record in FixtureHeaders.Model.Records)
        {
            foreach (var field in record.Fields)
            {
                Assert.IsTrue(field.Offset + field.Size <= record.Size, $"{record.Name}.{field.Name} ends inside the record");
            }
        }
    }

    private static Regex StructDeclaration(string name, string layout, string? nativeName = null) => new(
        @"LayoutKind\.Explicit, " + Regex.Escape(layout) + @"\)\]\s*\[NativeTypeName\(""" + Regex.Escape(nativeName ?? "struct " + name) + @"""\)\]\s*public partial struct " + name + @"\s*\{");
}
