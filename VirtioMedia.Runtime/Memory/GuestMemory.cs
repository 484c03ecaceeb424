using System;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;

namespace VirtioMedia.Runtime.Memory;

/// <summary>
/// The guest-physical address space as the device sees it: a set of non-overlapping regions. Every
/// access is bounds- and overflow-checked, and a buffer never spans two regions (they need not be
/// contiguous on the host).
/// </summary>
public sealed unsafe class GuestMemory : IDisposable
{
    private readonly GuestMemoryRegion[] _regions;

    /// <summary>Builds the address space from regions; they must not overlap.</summary>
    public GuestMemory(params GuestMemoryRegion[] regions)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("virtio rings are little-endian; a big-endian host needs byte swapping");
        }
        _regions = regions.OrderBy(r => r.GuestAddress).ToArray();
        for (var i = 1; i < _regions.Length; i++)
        {
            var previous = _regions[i - 1];
            if (previous.GuestAddress + previous.Length > _regions[i].GuestAddress)
            {
                throw new ArgumentException($"regions at 0x{previous.GuestAddress:X} and 0x{_regions[i].GuestAddress:X} overlap", nameof(regions));
            }
        }
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
        // Few regions (a VMM passes at most 8 or so): a linear scan beats a search.
        foreach (var region in _regions)
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
