using System;
using System.Linq;
using System.Numerics;
using System.Reflection;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace VirtioMedia.Tests.Generator;

/// <summary>
/// Enums of Headers/fixture/enums.h. C gives an enum the smallest of int, unsigned int, long, unsigned long
/// that holds its values (unsigned when none is negative, under gcc and clang), and packed enums the
/// smallest integer; gcc agrees on every size used here.
/// </summary>
[TestClass]
public sealed class FixtureEnumTests
{
    private sealed record Expected(string Name, string Underlying, Type Runtime, params (string Member, BigInteger Value)[] Members);

    private static readonly Expected[] Enums =
    {
        new("fx_enum_int", "int", typeof(int), ("FX_INT_MINUS", -1), ("FX_INT_PLUS", 1)),
        new("fx_enum_uint", "uint", typeof(uint), ("FX_UINT_ZERO", 0), ("FX_UINT_HIGH", 0x80000000)),
        new("fx_enum_long", "long", typeof(long), ("FX_LONG_MINUS", -2), ("FX_LONG_BIG", 0x100000000)),
        new("fx_enum_ulong", "ulong", typeof(ulong), ("FX_ULONG_ONE", 1), ("FX_ULONG_TOP", 0x8000000000000000)),
        new("fx_enum_packed", "ushort", typeof(ushort), ("FX_PACKED_SMALL", 1), ("FX_PACKED_WIDE", 300)),
        new("fx_enum_packed_signed", "sbyte", typeof(sbyte), ("FX_PACKED_NEGATIVE", -3), ("FX_PACKED_POSITIVE", 3)),
        new("fx_mode_t", "uint", typeof(uint), ("FX_MODE_OFF", 0), ("FX_MODE_ON", 5)),
    };

    [TestMethod]
    public void Named_enums_have_the_underlying_type_clang_gives_them()
    {
        CollectionAssert.AreEquivalent(Enums.Select(e => e.Name).ToList(), FixtureHeaders.Model.Enums.Select(e => e.Name).ToList());
        foreach (var expected in Enums)
        {
            var model = FixtureHeaders.Model.Enums.Single(e => e.Name == expected.Name);
            Assert.AreEqual(expected.Underlying, model.UnderlyingType, expected.Name);
            Assert.AreEqual("fixture/enums.h", model.Header);
            CollectionAssert.AreEqual(
                expected.Members.Select(m => $"{m.Member}={m.Value}").ToList(),
                model.Members.Select(m => $"{m.Name}={GeneratorHarness.ValueOf(m.Value)}").ToList(),
                expected.Name);
        }
    }

    [TestMethod]
    public void Compiled_enums_have_the_C_values_and_widths()
    {
        foreach (var expected in Enums)
        {
            var type = FixtureHeaders.GeneratedType(expected.Name);
            Assert.IsTrue(type.IsEnum, expected.Name);
            Assert.AreEqual(expected.Runtime, Enum.GetUnderlyingType(type), expected.Name);
            foreach (var (member, value) in expected.Members)
            {
                Assert.AreEqual(value, GeneratorHarness.ValueOf(type.GetField(member, BindingFlags.Public | BindingFlags.Static)!), $"{expected.Name}.{member}");
            }
        }
        // A struct field of enum type takes the enum's width: fx_with_enums is 24 bytes in C.
        Assert.AreEqual(24, GeneratorHarness.SizeOf(FixtureHeaders.GeneratedType("fx_with_enums")));
    }

    [TestMethod]
    public void Enumerators_are_also_constants_including_those_of_anonymous_enums()
    {
        var constants = FixtureHeaders.Model.Constants.ToDictionary(c => c.Name);
        foreach (var expected in Enums)
        {
            foreach (var (member, value) in expected.Members)
            {
                Assert.AreEqual(value, GeneratorHarness.ValueOf(constants[member].Value), member);
                Assert.AreEqual(value < 0, constants[member].IsNegative, member);
            }
        }
        Assert.AreEqual(new BigInteger(10), GeneratorHarness.ValueOf(constants["FX_LOOSE_A"].Value));
        Assert.AreEqual(new BigInteger(11), GeneratorHarness.ValueOf(constants["FX_LOOSE_B"].Value));

        var compiled = FixtureHeaders.GeneratedType("Constants");
        Assert.AreEqual(new BigInteger(0x100000000), GeneratorHarness.ValueOf(compiled.GetField("FX_LONG_BIG")!));
        Assert.AreEqual(new BigInteger(-3), GeneratorHarness.ValueOf(compiled.GetField("FX_PACKED_NEGATIVE")!));
        Assert.AreEqual(new BigInteger(11), GeneratorHarness.ValueOf(compiled.GetField("FX_LOOSE_B")!));
    }

    [TestMethod]
    public void Typedef_of_an_anonymous_enum_takes_the_typedef_name()
    {
        Assert.AreEqual("fx_mode_t", FixtureHeaders.Field("fx_with_enums", "mode").Type);
        Assert.AreEqual("fx_enum_packed", FixtureHeaders.Field("fx_with_enums", "small").Type);
        Assert.AreEqual(typeof(uint), Enum.GetUnderlyingType(FixtureHeaders.GeneratedType("fx_mode_t")));
        Assert.AreEqual(FixtureHeaders.GeneratedType("fx_mode_t"), FixtureHeaders.GeneratedType("fx_with_enums").GetField("mode")!.FieldType);
    }
}
