using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Memory;

namespace VirtioMedia.Proxy;

/// <summary>Whether a SHARED_PAGES buffer can be handed to the host node in place, as one USERPTR range.</summary>
public static class ScatterRanges
{
    /// <summary>
    /// The host address of the guest pages of <paramref name="entries"/> when they are one run of guest-physical memory
    /// inside one region of <paramref name="memory"/> (a region is one host mapping, so the run is one host range) of at
    /// least <paramref name="length"/> bytes; false otherwise (the buffer then goes through a bounce buffer).
    /// </summary>
    public static unsafe bool TryGetHostRange(GuestMemory memory, ReadOnlySpan<virtio_media_sg_entry> entries, ulong length, out IntPtr host)
    {
        ArgumentNullException.ThrowIfNull(memory);
        host = IntPtr.Zero;
        if (entries.IsEmpty || length == 0)
        {
            return false;
        }
        var start = entries[0].start;
        var end = start;
        foreach (var entry in entries)
        {
            if (entry.start != end || entry.len == 0)
            {
                return false;
            }
            end += entry.len;
            if (end < entry.start)
            {
                return false; // wrapped
            }
        }
        var total = end - start;
        if (total < length || total > int.MaxValue || !memory.TryGetSpan(start, length, out var span))
        {
            return false;
        }
        host = (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetReference(span));
        return true;
    }
}
