using System;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;

namespace VirtioMedia.Runtime.Memory;

/// <summary>
/// The guest-physical address space as the device sees it: a set of non-overlapping regions. Every
/// access is bounds- and overflow-checked, and a buffer never spans two regions (they need not be
/// contiguous on the host). The set of regions can be replaced while the memory is in use (a VMM
/// adds or removes a region at run time); whoever provides the regions keeps the old ones' memory
/// mapped until no access to them can still be in progress.
/// </summary>
public sealed unsafe class GuestMemory : IDisposable
{
    private volatile GuestMemoryRegion[] _regions;

    /// <summary>Builds the address space from regions; they must not overlap.</summary>
    public GuestMemory(params GuestMemoryRegion[] regions)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("virtio rings are little-endian; a big-endian host needs byte swapping");
        }
        _regions = Sorted(regions);
    }

    /// <summary>
    /// Replaces the regions in one step: each access uses either the old set or the new one, never a
    /// mix. The old regions are not disposed; their memory must stay valid for accesses that began
    /// before the swap. Throws <see cref="ArgumentException"/> (and changes nothing) when the new
    /// regions overlap.
    /// </summary>
    public void Replace(params GuestMemoryRegion[] regions) => _regions = Sorted(regions);

    private static GuestMemoryRegion[] Sorted(GuestMemoryRegion[] regions)
    {
        var sorted = regions.OrderBy(r => r.GuestAddress).ToArray();
        for (var i = 1; i < sorted.Length; i++)
        {
            var previous = sorted[i - 1];
            if (previous.GuestAddress + previous.Length > sorted[i].GuestAddress)
            {
                throw new ArgumentException($"regions at 0x{previous.GuestAddress:X} and 0x{sorted[i].GuestAddress:X} overlap", nameof(regions));
            }
        }
        return sorted;
    }

    /// <summary>One region of freshly allocated memory at <paramref name="guestAddress"/>.</summary>
    public static GuestMemory Allocate(ulong guestAddress, ulong length) => new(GuestMemoryRegion.Allocate(guestAddress, length));

    /// <summary>The regions, by guest address.</summary>
    public ReadOnlySpan<GuestMemoryRegion> Regions => _regions;

    /// <summary>The host bytes of [<paramref name="address"/>, +<paramref name="length"/>), or false when
    /// the range is not entirely inside one region.</summary>
    public bool TryGetSpan(ulong address, ulong length, out Span<byte> span)
    {
        var host = Translate(address, length);
        if (host == null || length > int.MaxValue)
        {
            span = default;
            return false;
        }
        span = new Span<byte>(host, (int)length);
        return true;
    }

    /// <summary>The host bytes of a range; throws <see cref="GuestMemoryException"/> outside guest memory.</summary>
    public Span<byte> GetSpan(ulong address, ulong length) =>
        TryGetSpan(address, length, out var span) ? span : throw new GuestMemoryException(address, length, "is outside guest memory");

    /// <summary>Reads a little-endian value.</summary>
    public T Read<T>(ulong address)
        where T : unmanaged => Unsafe.ReadUnaligned<T>(Checked(address, (ulong)sizeof(T)));

    /// <summary>Writes a little-endian value.</summary>
    public void Write<T>(ulong address, T value)
        where T : unmanaged => Unsafe.WriteUnaligned(Checked(address, (ulong)sizeof(T)), value);

    /// <summary>Reads a 16-bit ring index with acquire semantics: what the other side wrote before
    /// publishing it is visible after.</summary>
    public ushort ReadUInt16Acquire(ulong address) => Volatile.Read(ref *(ushort*)CheckedAligned(address, 2));

    /// <summary>Publishes a 16-bit ring index with release semantics.</summary>
    public void WriteUInt16Release(ulong address, ushort value) => Volatile.Write(ref *(ushort*)CheckedAligned(address, 2), value);

    private byte* Checked(ulong address, ulong length) =>
        Translate(address, length) is var host && host != null ? host : throw new GuestMemoryException(address, length, "is outside guest memory");

    private byte* CheckedAligned(ulong address, ulong length) =>
        address % length == 0 ? Checked(address, length) : throw new GuestMemoryException(address, length, "is misaligned");

    private byte* Translate(ulong address, ulong length)
    {
        if (address + length < address)
        {
            return null; // wraps around the 64-bit address space
        }
        // Few regions (a VMM passes at most 8 or so): a linear scan beats a search. One read of the
        // set, so a concurrent Replace cannot mix two of them within this access.
        var regions = _regions;
        foreach (var region in regions)
        {
            if (address >= region.GuestAddress && address - region.GuestAddress <= region.Length && length <= region.Length - (address - region.GuestAddress))
            {
                return region.HostPointer + (address - region.GuestAddress);
            }
        }
        return null;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var region in _regions)
        {
            region.Dispose();
        }
    }
}
