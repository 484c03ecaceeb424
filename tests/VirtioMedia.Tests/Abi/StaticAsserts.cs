using System.Globalization;
using System.Text;

namespace VirtioMedia.Tests.Abi;

/// <summary>A C file of <c>_Static_assert</c>s, each with a message that names what it checks.</summary>
internal sealed class StaticAsserts
{
    private readonly StringBuilder _text = new();

    /// <summary>How many assertions were added.</summary>
    public int Count { get; private set; }

    /// <summary>Adds <c>_Static_assert(condition, "message")</c>.</summary>
    public void Add(string condition, string message)
    {
        _text.Append("_Static_assert(").Append(condition).Append(", \"")
            .Append(message.Replace("\\", "\\\\").Replace("\"", "\\\"")).Append("\");\n");
        Count++;
    }

    /// <summary>Adds <c>left == right</c>.</summary>
    public void Equal(string left, long right, string message) => Add($"({left}) == {Literal(right)}", message);

    /// <summary>Adds <c>expression == value</c> for a boxed integer of any C# integer type, and a check of
    /// its sign: the 64-bit comparison goes through C's usual conversions, which cannot tell -1 from
    /// 0xFFFFFFFFFFFFFFFF once one side is unsigned long long.</summary>
    public void EqualInteger(string expression, object value, string message)
    {
        Add($"({expression}) == {Literal(value)}", message + ": value");
        var negative = value is not ulong && System.Convert.ToInt64(value, CultureInfo.InvariantCulture) < 0;
        Add($"(({expression}) < 0) == {(negative ? 1 : 0)}", message + ": sign");
    }

    /// <summary>Adds a check that the C type of <paramref name="expression"/> is signed, or unsigned.</summary>
    public void Signedness(string expression, bool signed, string message) =>
        Add($"(((__typeof__({expression}))-1 < 0) == {(signed ? 1 : 0)})", message);

    /// <summary>The C text.</summary>
    public override string ToString() => _text.ToString();

    /// <summary>An integer as a C literal of 64-bit type, so the comparison is made at full width.</summary>
    public static string Literal(ulong value) => value.ToString(CultureInfo.InvariantCulture) + "ULL";

    /// <summary>An integer as a C literal of 64-bit type: unsigned long long from zero up, long long below
    /// (the most negative value is no negated literal, its magnitude does not fit long long).</summary>
    public static string Literal(long value) => value switch
    {
        >= 0 => Literal((ulong)value),
        long.MinValue => "(-9223372036854775807LL - 1)",
        _ => "(" + value.ToString(CultureInfo.InvariantCulture) + "LL)",
    };

    /// <summary>A boxed integer of any C# integer type as a C literal.</summary>
    public static string Literal(object integer) =>
        integer is ulong unsigned ? Literal(unsigned) : Literal(System.Convert.ToInt64(integer, CultureInfo.InvariantCulture));
}
