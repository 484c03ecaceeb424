using System;
using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VirtioMedia.Tests.Abi;

/// <summary>The layout the .NET runtime actually gives a type: measured, not read from attributes.</summary>
internal static class ClrLayout
{
    private static readonly ConcurrentDictionary<Type, int> Sizes = new();
    private static readonly ConcurrentDictionary<Type, int> Alignments = new();

    /// <summary><c>Unsafe.SizeOf</c> of a type known only at run time.</summary>
    public static int SizeOf(Type type) =>
        Sizes.GetOrAdd(type, t => (int)Call(nameof(SizeOfCore), t));

    /// <summary>The alignment the runtime gives <paramref name="type"/> when it lays it out as a field.</summary>
    /// <remarks>Explicit layout fixes the offsets and the size, but not the alignment: the runtime derives it
    /// from the fields, capped by the declared Pack. It is what decides where the type lands in any struct or
    /// stack frame that .NET lays out itself, so it must be C's: a packed C record (v4l2_bt_timings, a
    /// __u64 at offset 16, aligned to 1) generated without its Pack would be aligned to 8, and a C# struct
    /// that embeds it after a __u32, as C does in v4l2_dv_timings, would put it 4 bytes off. Measuring the
    /// alignment is what checks the Pack.</remarks>
    public static int AlignmentOf(Type type) =>
        Alignments.GetOrAdd(type, t => (int)Call(nameof(AlignmentOfCore), t));

    /// <summary>Where the runtime stores <paramref name="field"/> inside a <paramref name="holder"/>: the
    /// field is set to all ones in an all-zero instance and the changed bytes are located.</summary>
    /// <returns>The first changed byte and the number of bytes from it to the last changed one.</returns>
    public static (int Offset, int Length) Measure(Type holder, FieldInfo field) =>
        ((int, int))Call(nameof(MeasureCore), holder, field);

    /// <summary>Whether a numeric or enum type is signed.</summary>
    public static bool IsSigned(Type type)
    {
        var underlying = type.IsEnum ? Enum.GetUnderlyingType(type) : type;
        return underlying == typeof(sbyte) || underlying == typeof(short) || underlying == typeof(int)
            || underlying == typeof(long) || underlying == typeof(float) || underlying == typeof(double);
    }

    private static object Call(string method, Type typeArgument, params object[] arguments)
    {
        var generic = typeof(ClrLayout).GetMethod(method, BindingFlags.NonPublic | BindingFlags.Static)!;
        try
        {
            return generic.MakeGenericMethod(typeArgument).Invoke(null, arguments)!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    private static int SizeOfCore<T>() where T : unmanaged => Unsafe.SizeOf<T>();

    private static int AlignmentOfCore<T>() where T : unmanaged
    {
        var probe = default(AlignmentProbe<T>);
        return (int)Unsafe.ByteOffset(ref probe.Lead, ref Unsafe.As<T, byte>(ref probe.Value));
    }

    private static (int, int) MeasureCore<THolder>(FieldInfo field) where THolder : unmanaged
    {
        object boxed = default(THolder);
        field.SetValue(boxed, AllOnes(field.FieldType));
        var bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<THolder>(ref Unsafe.Unbox<THolder>(boxed)));
        var first = bytes.IndexOfAnyExcept((byte)0);
        var last = bytes.LastIndexOfAnyExcept((byte)0);
        return first < 0 ? (-1, 0) : (first, last - first + 1);
    }

    private static object AllOnes(Type type) => Call(nameof(AllOnesCore), type);

    private static object AllOnesCore<T>() where T : unmanaged
    {
        var value = default(T);
        MemoryMarshal.AsBytes(new Span<T>(ref value)).Fill(0xFF);
        return value;
    }

    /// <summary>A byte followed by a T: the runtime pads the byte up to T's alignment.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct AlignmentProbe<T> where T : unmanaged
    {
        public byte Lead;
        public T Value;
    }
}
