using System.Runtime.InteropServices;

namespace VirtioMedia.Runtime.Virtqueues;

/// <summary>struct virtq_desc: one buffer of a chain.</summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public struct VirtqDescriptor
{
    /// <summary>VIRTQ_DESC_F_NEXT: the chain continues at <see cref="next"/>.</summary>
    public const ushort VIRTQ_DESC_F_NEXT = 1;

    /// <summary>VIRTQ_DESC_F_WRITE: the buffer is device-writable.</summary>
    public const ushort VIRTQ_DESC_F_WRITE = 2;

    /// <summary>VIRTQ_DESC_F_INDIRECT: the buffer holds a table of descriptors.</summary>
    public const ushort VIRTQ_DESC_F_INDIRECT = 4;

    /// <summary>Guest-physical address of the buffer.</summary>
    [FieldOffset(0)] public ulong addr;

    /// <summary>Length of the buffer.</summary>
    [FieldOffset(8)] public uint len;

    /// <summary>VIRTQ_DESC_F_* flags.</summary>
    [FieldOffset(12)] public ushort flags;

    /// <summary>The next descriptor when <see cref="VIRTQ_DESC_F_NEXT"/> is set.</summary>
    [FieldOffset(14)] public ushort next;
}

/// <summary>Flags of the rings themselves.</summary>
public static class VirtqRingFlags
{
    /// <summary>avail.flags: the driver does not want interrupts (without EVENT_IDX).</summary>
    public const ushort VIRTQ_AVAIL_F_NO_INTERRUPT = 1;

    /// <summary>used.flags: the device does not want notifications (without EVENT_IDX).</summary>
    public const ushort VIRTQ_USED_F_NO_NOTIFY = 1;

    /// <summary>
    /// vring_need_event: with VIRTIO_F_EVENT_IDX, whether moving an index from <paramref name="oldIndex"/>
    /// to <paramref name="newIndex"/> crosses the other side's event index. All arithmetic is mod 2^16.
    /// </summary>
    public static bool NeedEvent(ushort eventIndex, ushort newIndex, ushort oldIndex) =>
        (ushort)(newIndex - eventIndex - 1) < (ushort)(newIndex - oldIndex);
}
