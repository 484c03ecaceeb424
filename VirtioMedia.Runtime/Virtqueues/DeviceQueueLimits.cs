using System;

namespace VirtioMedia.Runtime.Virtqueues;

/// <summary>
/// How much a driver may make the device hold for one chain. A chain past a limit breaks the queue, as any other
/// ring violation does, so a driver cannot make the device walk or keep more than these bounds.
/// </summary>
/// <param name="MaxChainDescriptors">
/// Buffers one chain may have, direct and indirect together. The default, 128, is the Linux driver's
/// DESC_CHAIN_MAX_LEN (SG_MAX_SINGLE_ALLOC with 4 KiB pages: 4096 / sizeof(struct scatterlist)), the longest chain it builds.
/// </param>
/// <param name="MaxIndirectTableEntries">
/// Entries an indirect table may have (its len / 16). The default, 128, matches the longest chain; the
/// specification's own bound is the largest queue size, 32768, which would let one descriptor name a 512 KiB table.
/// </param>
public readonly record struct DeviceQueueLimits(int MaxChainDescriptors = DeviceQueueLimits.DefaultMaxChainDescriptors, int MaxIndirectTableEntries = DeviceQueueLimits.DefaultMaxIndirectTableEntries)
{
    /// <summary>The default for <see cref="MaxChainDescriptors"/>.</summary>
    public const int DefaultMaxChainDescriptors = 128;

    /// <summary>The default for <see cref="MaxIndirectTableEntries"/>.</summary>
    public const int DefaultMaxIndirectTableEntries = 128;

    /// <summary>The defaults (<c>new DeviceQueueLimits()</c> is the same; <c>default</c> is not, and is refused).</summary>
    public DeviceQueueLimits()
        : this(DefaultMaxChainDescriptors, DefaultMaxIndirectTableEntries)
    {
    }

    /// <summary>The defaults.</summary>
    public static DeviceQueueLimits Default => new();

    internal void Validate()
    {
        if (MaxChainDescriptors < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxChainDescriptors), MaxChainDescriptors, "a chain needs at least one descriptor");
        }
        if (MaxIndirectTableEntries < 1 || MaxIndirectTableEntries > SplitQueueLayout.MaxSize)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxIndirectTableEntries), MaxIndirectTableEntries, "an indirect table has 1 to 32768 entries");
        }
    }
}
