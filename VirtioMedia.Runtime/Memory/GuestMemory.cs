using System;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;

namespace VirtioMedia.Runtime.Memory;

/// <summary>
/// The guest-physical address space as the device sees it: a set of non-overlapping regions. Every
/// access is bounds- and overflow-checked, and a buffer never spans two regions (they need not be
/// contiguous on the host). The set of regions can be replaced while the memory is in use (a VMM
/// adds or removes a region at run time, a vhost-user front-end sends a new memory table).
/// </summary>
/// <remarks>
/// Whoever touches the memory holds a <see cref="GuestMemoryLease"/> for as long as it may use what it
/// read or the spans it got (a command from its pop to its used entry, an event delivery, one copy into a
/// SHARED_PAGES buffer). Each set of regions is a generation; <see cref="Replace(GuestMemoryRegion[], Action?)"/>
/// and <see cref="Dispose"/> retire the current one, and a retired generation's release action (the
/// unmapping of its memory) runs only once no lease taken on it or on an older generation is left, since a
/// lease taken before a swap may also have translated addresses through the regions that replaced them.
/// So a slow access delays an unmap and can never outlive it. Taking and returning a lease is two
/// interlocked operations and allocates nothing.
/// </remarks>
public sealed unsafe class GuestMemory : IDisposable
{
    // A generation freed by the reclaimer holds this count, so a lease that raced with it sees a negative
    // count after its increment and retries on the current generation.
    private const int Freed = int.MinValue / 2;

    private readonly object _retireGate = new();
    private readonly System.Collections.Generic.Queue<Generation> _retired = new();
    private volatile Generation _current;
    private bool _disposed;

    /// <summary>Builds the address space from regions; they must not overlap.</summary>
    public GuestMemory(params GuestMemoryRegion[] regions)
        : this(regions, released: null)
    {
    }

    /// <summary>Builds the address space from regions whose memory someone else owns: <paramref name="released"/>
    /// runs once no lease can reach them any more (after a <see cref="Replace(GuestMemoryRegion[], Action?)"/> or
    /// <see cref="Dispose"/>).</summary>
    public GuestMemory(GuestMemoryRegion[] regions, Action? released)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("virtio rings are little-endian; a big-endian host needs byte swapping");
        }
        _current = new Generation(Sorted(regions), released);
    }

    /// <summary>
    /// Replaces the regions in one step: each access uses either the old set or the new one, never a
    /// mix. The old regions are not disposed: the release action given with them runs once the last lease
    /// that may reach them is returned. Throws <see cref="ArgumentException"/> (and changes nothing) when
    /// the new regions overlap, <see cref="ObjectDisposedException"/> after <see cref="Dispose"/>.
    /// </summary>
    public void Replace(params GuestMemoryRegion[] regions) => Replace(regions, released: null);

    /// <summary>As <see cref="Replace(GuestMemoryRegion[])"/>; <paramref name="released"/> runs when the new
    /// regions have been replaced in turn (or the memory disposed) and no lease can reach them any more.</summary>
    public void Replace(GuestMemoryRegion[] regions, Action? released)
    {
        var next = new Generation(Sorted(regions), released);
        lock (_retireGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Retire(next);
        }
    }

    /// <summary>
    /// Takes a lease on the memory as it is now: until the lease is disposed, no region any access may have
    /// translated through since is unmapped. Dispose it exactly once.
    /// </summary>
    public GuestMemoryLease Lease()
    {
        while (true)
        {
            var generation = _current;
            if (Interlocked.Increment(ref generation.Leases) > 0)
            {
                return new GuestMemoryLease(this, generation);
            }
            // Freed between the read and the increment: only a retired generation is ever freed, so the
            // current one is newer.
        }
    }

    internal void Return(Generation generation)
    {
        if (Interlocked.Decrement(ref generation.Leases) == 0 && generation.IsRetired)
        {
            lock (_retireGate)
            {
                FreeDrained();
            }
        }
    }

    /// <summary>Generations retired but not yet freed (for tests of the lease rule).</summary>
    internal int RetiredGenerations
    {
        get
        {
            lock (_retireGate)
            {
                return _retired.Count;
            }
        }
    }

    // Under _retireGate.
    private void Retire(Generation next)
    {
        var previous = _current;
        _current = next;
        previous.IsRetired = true;
        _retired.Enqueue(previous);
        FreeDrained();
    }

    // Under _retireGate. Oldest first, and only while each is drained: a lease on an older generation may
    // have translated through any newer one.
    private void FreeDrained()
    {
        while (_retired.TryPeek(out var oldest) && Interlocked.CompareExchange(ref oldest.Leases, Freed, 0) == 0)
        {
            _retired.Dequeue();
            // Regions that own their memory (Allocate) are freed with the last generation that has them; the
            // others belong to whoever gave them, told by the release action.
            foreach (var region in oldest.Regions)
            {
                if (!IsReachable(region))
                {
                    region.Dispose();
                }
            }
            oldest.Released?.Invoke();
        }
    }

    private bool IsReachable(GuestMemoryRegion region)
    {
        if (Array.IndexOf(_current.Regions, region) >= 0)
        {
            return true;
        }
        foreach (var generation in _retired)
        {
            if (Array.IndexOf(generation.Regions, region) >= 0)
            {
                return true;
            }
        }
        return false;
    }

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
    public ReadOnlySpan<GuestMemoryRegion> Regions => _current.Regions;

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
        var regions = _current.Regions;
        foreach (var region in regions)
        {
            if (address >= region.GuestAddress && address - region.GuestAddress <= region.Length && length <= region.Length - (address - region.GuestAddress))
            {
                return region.HostPointer + (address - region.GuestAddress);
            }
        }
        return null;
    }

    /// <summary>
    /// Ends the address space: later accesses find no memory (a <see cref="GuestMemoryException"/>, not a
    /// fault). Regions allocated by <see cref="Allocate"/> are freed, and the release actions of the others
    /// run, once the last lease that may reach them is returned.
    /// </summary>
    public void Dispose()
    {
        lock (_retireGate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            Retire(new Generation([], released: null));
        }
    }

    /// <summary>One set of regions and the leases on it.</summary>
    internal sealed class Generation(GuestMemoryRegion[] regions, Action? released)
    {
        public readonly GuestMemoryRegion[] Regions = regions;

        public int Leases;

        public volatile bool IsRetired;

        public Action? Released { get; } = released;
    }
}

/// <summary>A lease on <see cref="GuestMemory"/> (see its remarks); a default lease holds nothing.</summary>
public readonly struct GuestMemoryLease : IDisposable
{
    private readonly GuestMemory? _memory;
    private readonly GuestMemory.Generation? _generation;

    internal GuestMemoryLease(GuestMemory memory, GuestMemory.Generation generation)
    {
        _memory = memory;
        _generation = generation;
    }

    /// <summary>The memory leased (null for a default lease).</summary>
    public GuestMemory? Memory => _memory;

    /// <summary>Returns the lease.</summary>
    public void Dispose()
    {
        if (_generation is not null)
        {
            _memory!.Return(_generation);
        }
    }
}
