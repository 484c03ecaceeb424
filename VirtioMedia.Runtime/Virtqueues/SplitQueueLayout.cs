using System;

namespace VirtioMedia.Runtime.Virtqueues;

/// <summary>
/// Where the three parts of a split virtqueue live and how big they are (virtio 1.x, 2.7 "Split
/// Virtqueues"). Each formula is the specification's.
/// </summary>
public readonly record struct SplitQueueLayout(ushort Size, ulong DescriptorTable, ulong AvailableRing, ulong UsedRing)
{
    /// <summary>The largest queue size the specification allows.</summary>
    public const int MaxSize = 32768;

    /// <summary>Descriptor table alignment: 16.</summary>
    public const int DescriptorTableAlignment = 16;

    /// <summary>Available ring alignment: 2.</summary>
    public const int AvailableRingAlignment = 2;

    /// <summary>Used ring alignment: 4.</summary>
    public const int UsedRingAlignment = 4;

    /// <summary>One descriptor: le64 addr, le32 len, le16 flags, le16 next.</summary>
    public const int DescriptorSize = 16;

    /// <summary>Descriptor table size: 16 * Queue Size.</summary>
    public static ulong DescriptorTableSize(int size) => 16UL * (ulong)size;

    /// <summary>Available ring size: 6 + 2 * Queue Size (flags, idx, ring[], used_event).</summary>
    public static ulong AvailableRingSize(int size) => 6UL + 2UL * (ulong)size;

    /// <summary>Used ring size: 6 + 8 * Queue Size (flags, idx, ring[] of {id, len}, avail_event).</summary>
    public static ulong UsedRingSize(int size) => 6UL + 8UL * (ulong)size;

    /// <summary>Lays the three parts out one after the other from <paramref name="start"/>, each at its alignment.</summary>
    public static SplitQueueLayout Contiguous(ushort size, ulong start)
    {
        ValidateSize(size);
        var descriptors = Align(start, DescriptorTableAlignment);
        var available = Align(descriptors + DescriptorTableSize(size), AvailableRingAlignment);
        var used = Align(available + AvailableRingSize(size), UsedRingAlignment);
        return new SplitQueueLayout(size, descriptors, available, used);
    }

    /// <summary>The bytes <see cref="Contiguous"/> needs from an aligned start.</summary>
    public static ulong ContiguousSize(ushort size)
    {
        var layout = Contiguous(size, 0);
        return layout.UsedRing + UsedRingSize(size);
    }

    /// <summary>Checks a queue size: a power of 2, at most 32768.</summary>
    public static void ValidateSize(int size)
    {
        if (size <= 0 || size > MaxSize || (size & (size - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "a split queue size is a power of 2 from 1 to 32768");
        }
    }

    /// <summary>Checks the size and the alignment of each part.</summary>
    public void Validate()
    {
        ValidateSize(Size);
        if (DescriptorTable % DescriptorTableAlignment != 0 || AvailableRing % AvailableRingAlignment != 0 || UsedRing % UsedRingAlignment != 0)
        {
            throw new ArgumentException($"queue parts misaligned: descriptors 0x{DescriptorTable:X}, available 0x{AvailableRing:X}, used 0x{UsedRing:X}");
        }
    }

    // Offsets inside the rings.

    /// <summary>avail.flags.</summary>
    public ulong AvailableFlags => AvailableRing;

    /// <summary>avail.idx.</summary>
    public ulong AvailableIndex => AvailableRing + 2;

    /// <summary>avail.ring[slot].</summary>
    public ulong AvailableEntry(int slot) => AvailableRing + 4 + 2UL * (ulong)slot;

    /// <summary>avail.used_event, after the ring (VIRTIO_F_EVENT_IDX).</summary>
    public ulong UsedEvent => AvailableRing + 4 + 2UL * Size;

    /// <summary>used.flags.</summary>
    public ulong UsedFlags => UsedRing;

    /// <summary>used.idx.</summary>
    public ulong UsedIndex => UsedRing + 2;

    /// <summary>used.ring[slot] (le32 id, le32 len).</summary>
    public ulong UsedEntry(int slot) => UsedRing + 4 + 8UL * (ulong)slot;

    /// <summary>used.avail_event, after the ring (VIRTIO_F_EVENT_IDX).</summary>
    public ulong AvailableEvent => UsedRing + 4 + 8UL * Size;

    /// <summary>The address of descriptor <paramref name="index"/>.</summary>
    public ulong Descriptor(int index) => DescriptorTable + DescriptorSize * (ulong)index;

    private static ulong Align(ulong value, ulong alignment) => (value + alignment - 1) & ~(alignment - 1);
}
