using System;
using System.Linq;
using System.Reflection;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;

namespace VirtioMedia.Tests.Abi;

/// <summary>Every generated constant and enum against gcc's evaluation of the same headers.</summary>
[TestClass]
public sealed class ConstantTests
{
    private readonly TestContext _context;

    public ConstantTests(TestContext context) => _context = context;

    [TestMethod]
    public void Every_constant_has_the_gcc_value_and_size()
    {
        var constants = typeof(Constants).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .ToList();
        var asserts = new StaticAsserts();
        var macros = 0;
        foreach (var constant in constants)
        {
            var name = constant.Name;
            var value = constant.GetRawConstantValue()!;
            asserts.EqualInteger(name, value, name);
            asserts.Equal($"sizeof({name})", ClrLayout.SizeOf(constant.FieldType), $"{name}: sizeof");
            if (HeaderText.DefinesMacro(name))
            {
                // A macro's C# type is its expression's type. An enumerator is not checked here: C gives it
                // type int whatever its enum's type, while C# types it like its enum (the enum check below).
                asserts.Signedness(name, ClrLayout.IsSigned(constant.FieldType), $"{name}: signedness");
                macros++;
            }
        }

        Gcc.AssertCompiles("constants.c", asserts.ToString());
        _context.WriteLine($"gcc agrees on {constants.Count} constants ({macros} macros, {constants.Count - macros} enumerators), {asserts.Count} assertions");
        Assert.IsTrue(constants.Count > 0, "no constants found");
    }

    [TestMethod]
    public void Every_enum_has_the_gcc_size_signedness_and_values()
    {
        var enums = GeneratedRecords.Assembly.GetExportedTypes()
            .Where(t => t.IsEnum && GeneratedRecords.NativeName(t) is { } n && n.StartsWith("enum ", StringComparison.Ordinal))
            .ToList();
        var asserts = new StaticAsserts();
        var members = 0;
        foreach (var type in enums)
        {
            var c = GeneratedRecords.NativeName(type)!;
            asserts.Equal($"sizeof({c})", ClrLayout.SizeOf(type), $"{c}: sizeof");
            asserts.Equal($"_Alignof({c})", ClrLayout.AlignmentOf(type), $"{c}: _Alignof");
            asserts.Signedness($"({c})0", ClrLayout.IsSigned(type), $"{c}: signedness");
            foreach (var member in type.GetFields(BindingFlags.Public | BindingFlags.Static))
            {
                asserts.EqualInteger(member.Name, member.GetRawConstantValue()!, $"{c}: {member.Name}");
                members++;
            }
        }

        Gcc.AssertCompiles("enums.c", asserts.ToString());
        _context.WriteLine($"gcc agrees on {enums.Count} enums with {members} enumerators");
        Assert.IsTrue(enums.Count > 0, "no enums found");
    }

    [TestMethod]
    public void Negative_and_full_width_values_are_told_apart()
    {
        // The headers have no negative constant, so the literal and sign logic is exercised here: gcc must
        // accept each right pairing and reject each wrong one, including -1 against all ones at 64 bits.
        var right = new (string C, object Value)[]
        {
            ("(-1)", -1), ("(-2147483647 - 1)", int.MinValue), ("(-9223372036854775807LL - 1)", long.MinValue),
            ("0xFFFFFFFFU", uint.MaxValue), ("0xFFFFFFFFFFFFFFFFULL", ulong.MaxValue), ("(-5L)", -5L),
        };
        var wrong = new (string C, object Value)[]
        {
            ("(-1)", uint.MaxValue), ("(-1LL)", ulong.MaxValue), ("0xFFFFFFFFFFFFFFFFULL", -1L), ("0xFFFFFFFFU", -1),
        };
        var asserts = new StaticAsserts();
        foreach (var (c, value, index) in right.Select((r, i) => (r.C, r.Value, i)))
        {
            asserts.EqualInteger(c, value, $"right {index}");
        }
        foreach (var (c, value, index) in wrong.Select((w, i) => (w.C, w.Value, i)))
        {
            asserts.EqualInteger(c, value, $"wrong {index}");
        }

        var (exitCode, output) = Gcc.Run("literals.c", Gcc.Prelude + asserts.ToString());
        Assert.AreNotEqual(0, exitCode, output);
        Assert.DoesNotContain("\"right", output);
        for (var i = 0; i < wrong.Length; i++)
        {
            Assert.Contains($"\"wrong {i}: ", output, $"{wrong[i].C} passed as {wrong[i].Value}");
        }
    }
}
