using System.Runtime.InteropServices;

namespace VirtioMedia.Runtime.Memory;

/// <summary>Zeroed, page-aligned native memory: what guest memory and shared memory regions are made of
/// when they live in this process.</summary>
internal static unsafe class PageMemory
{
    private const nuint PageSize = 4096;

    public static byte* Allocate(ulong length)
    {
        var memory = (byte*)NativeMemory.AlignedAlloc((nuint)length, PageSize);
        NativeMemory.Clear(memory, (nuint)length);
        return memory;
    }

    public static void Free(byte* memory) => NativeMemory.AlignedFree(memory);
}
