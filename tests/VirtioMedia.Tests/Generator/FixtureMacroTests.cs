using System;
using System.Linq;
using System.Numerics;
using System.Reflection;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Generator.Model;

namespace VirtioMedia.Tests.Generator;

/// <summary>
/// Object-like macros of Headers/fixture/macros.h: those that are integer constants keep the C type of their
/// expression (C11 6.4.4.1 for literals, the usual arithmetic conversions for expressions); the others are
/// listed with a reason. Ioctls are checked against the request encoding written out in the test.
/// </summary>
[TestClass]
public sealed class FixtureMacroTests
{
    private const string Header = "fixture/macros.h";

    private static readonly (string Name, string Type, Type Runtime, BigInteger Value)[] Constants =
    {
        ("FX_INT", "int", typeof(int), 42),
        ("FX_UNSIGNED", "uint", typeof(uint), 7),
        ("FX_LONG", "long", typeof(long), 0x100000000), // too wide for int and unsigned int: long
        ("FX_ULONG", "ulong", typeof(ulong), ulong.MaxValue),
        ("FX_NEGATIVE", "int", typeof(int), -5),
        ("FX_CHAR", "int", typeof(int), (int)'V'), // a character constant is an int in C
        ("FX_EXPRESSION", "uint", typeof(uint), 42 * 2 + 7), // int + unsigned int is unsigned int
        ("FX_SHIFTED", "ulong", typeof(ulong), BigInteger.One << 40),
    };

    private static readonly string[] NotConstants = { "FX_FLOAT", "FX_MASK", "FX_STRING", "FX_TYPE" };

    [TestMethod]
    public void Integer_macros_keep_their_C_value_and_type()
    {
        foreach (var (name, type, _, value) in Constants)
        {
            var constant = Constant(name);
            Assert.AreEqual(type, constant.Type, name);
            Assert.AreEqual(value, GeneratorHarness.ValueOf(constant.Value), name);
            Assert.AreEqual(value < 0, constant.IsNegative, name);
            Assert.AreEqual(Header, constant.Header, name);
        }
    }

    [TestMethod]
    public void Compiled_constants_have_the_C_value_and_type()
    {
        var compiled = FixtureHeaders.GeneratedType("Constants");
        foreach (var (name, _, runtime, value) in Constants)
        {
            var field = compiled.GetField(name, BindingFlags.Public | BindingFlags.Static) ?? throw new AssertFailedException($"no constant {name}");
            Assert.IsTrue(field.IsLiteral, name);
            Assert.AreEqual(runtime, field.FieldType, name);
            Assert.AreEqual(value, GeneratorHarness.ValueOf(field), name);
        }
    }

    [TestMethod]
    public void Macros_that_are_not_integer_constants_are_listed_with_a_reason()
    {
        var skipped = FixtureHeaders.Model.SkippedMacros;
        CollectionAssert.AreEqual(NotConstants, skipped.Select(m => m.Name).ToArray(), "exactly these, by name");
        foreach (var note in skipped)
        {
            Assert.AreEqual(Header, note.Header);
            Assert.AreEqual(FixtureHeaders.LineOfDefine(Header, note.Name), note.Line, note.Name);
            Assert.IsFalse(string.IsNullOrWhiteSpace(note.Reason), note.Name);
            Assert.IsFalse(FixtureHeaders.Model.Constants.Any(c => c.Name == note.Name), note.Name);
        }
        Assert.AreEqual("\"fixture\"", Note("FX_STRING").Body);
        StringAssert.Contains(Note("FX_STRING").Reason, "not an integer");
        StringAssert.Contains(Note("FX_FLOAT").Reason, "double");
        Assert.AreEqual("unsigned int", Note("FX_TYPE").Body);
        StringAssert.Contains(Note("FX_TYPE").Reason, "expected expression");
        StringAssert.Contains(Note("FX_MASK").Body, "FX_GENMASK");
        StringAssert.Contains(Note("FX_MASK").Reason, "constant");
    }

    [TestMethod]
    public void Function_like_and_empty_macros_are_neither_constants_nor_listed()
    {
        foreach (var name in new[] { "FX_FUNCTION", "FX_EMPTY", "FIXTURE_MACROS_H", "_IOWR", "_IOC_NR" })
        {
            Assert.IsFalse(FixtureHeaders.Model.Constants.Any(c => c.Name == name), name);
            Assert.IsFalse(FixtureHeaders.Model.SkippedMacros.Any(m => m.Name == name), name);
        }
    }

    [TestMethod]
    public void Report_file_lists_each_skipped_macro_with_its_place_and_reason()
    {
        var report = FixtureHeaders.Run.Source("Report.g.cs").Split('\n');
        foreach (var name in NotConstants)
        {
            var note = Note(name);
            var at = Array.FindIndex(report, l => l == $"//   {name} ({Header}:{FixtureHeaders.LineOfDefine(Header, name)}) = {note.Body}");
            Assert.IsTrue(at >= 0, $"{name} is not in the report:\n{string.Join("\n", report)}");
            Assert.AreEqual("//       " + note.Reason, report[at + 1], name);
        }
        Assert.IsTrue(report.Any(l => l.Contains($"({NotConstants.Length}):", StringComparison.Ordinal)), "the report counts them");
    }

    [TestMethod]
    public void Ioctls_decode_number_direction_and_payload()
    {
        var expected = new[]
        {
            new IoctlDesc("FX_IOC_QUERY", Request(3, 'F', 7, 16), 7, 3, "struct fx_query", "fx_query", 16),
            new IoctlDesc("FX_IOC_GET_COUNT", Request(2, 'F', 8, 4), 8, 2, "__u32", "uint", 4),
            new IoctlDesc("FX_IOC_RESET", Request(0, 'F', 9, 0), 9, 0, string.Empty, string.Empty, 0),
            new IoctlDesc("FX_IOC_SET_ANON", Request(1, 'F', 10, 8), 10, 1, "fx_anon_t", "fx_anon_t", 8),
            new IoctlDesc("FX_IOC_SET_UNION", Request(1, 'F', 11, 8), 11, 1, "union fx_union", "fx_union", 8),
        };
        CollectionAssert.AreEqual(expected, FixtureHeaders.Model.Ioctls.ToArray());
        // The request is also a constant, of the type of the _IOC expression.
        Assert.AreEqual(new BigInteger(Request(3, 'F', 7, 16)), GeneratorHarness.ValueOf(Constant("FX_IOC_QUERY").Value));
    }

    [TestMethod]
    public void Compiled_ioctl_table_carries_the_descriptors()
    {
        var ioctls = FixtureHeaders.GeneratedType("Ioctls");
        var query = Descriptor(ioctls.GetField("FX_IOC_QUERY")!.GetValue(null)!);
        Assert.AreEqual("FX_IOC_QUERY", Property<string>(query, "Name"));
        Assert.AreEqual(Request(3, 'F', 7, 16), Property<ulong>(query, "Request"));
        Assert.AreEqual(7, Property<int>(query, "Number"));
        Assert.AreEqual("ReadWrite", Property<object>(query, "Direction").ToString());
        Assert.AreEqual(16, Property<int>(query, "PayloadSize"));
        Assert.AreEqual(FixtureHeaders.GeneratedType("fx_query"), Property<Type>(query, "PayloadType"));
        Assert.AreEqual(16, GeneratorHarness.SizeOf(Property<Type>(query, "PayloadType")));

        var reset = Descriptor(ioctls.GetField("FX_IOC_RESET")!.GetValue(null)!);
        Assert.IsNull(reset.GetType().GetProperty("PayloadType")!.GetValue(reset));

        var findByNumber = ioctls.GetMethod("FindByNumber")!;
        Assert.AreEqual(query, findByNumber.Invoke(null, new object[] { 7 }));
        Assert.IsNull(findByNumber.Invoke(null, new object[] { 99 }));
        var all = (System.Collections.IEnumerable)ioctls.GetProperty("All")!.GetValue(null)!;
        Assert.AreEqual(5, all.Cast<object>().Count());
    }

    /// <summary>The Linux request encoding: number in bits 0-7, type 8-15, size 16-29, direction 30-31.</summary>
    private static ulong Request(uint direction, char type, uint number, uint size) =>
        ((ulong)direction << 30) | ((ulong)size << 16) | ((ulong)type << 8) | number;

    private static ConstantDesc Constant(string name) => FixtureHeaders.Model.Constants.Single(c => c.Name == name);

    private static MacroNote Note(string name) => FixtureHeaders.Model.SkippedMacros.Single(m => m.Name == name);

    private static object Descriptor(object ioctl) => ioctl.GetType().GetProperty("Descriptor")!.GetValue(ioctl)!;

    private static T Property<T>(object instance, string name) => (T)instance.GetType().GetProperty(name)!.GetValue(instance)!;
}
