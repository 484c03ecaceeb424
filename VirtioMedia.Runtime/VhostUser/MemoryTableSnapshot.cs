using System;
using System.Collections.Generic;
using System.Threading;
using VirtioMedia.Runtime.Memory;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>
/// One SET_MEM_TABLE as mapped here: the regions (guest address, size, the front-end's user address)
/// and the file mappings behind them. Immutable; reference-counted by whoever may still access it (the
/// connection while it is the current table, each device run that saw it): the mappings it holds are
/// released only when the last of them lets go, so swapping tables never unmaps memory an access may
/// still be using.
/// </summary>
internal sealed class MemoryTableSnapshot
{
    private readonly Entry[] _entries;
    private readonly FileMapping[] _mappings;
    private int _references = 1;

    private MemoryTableSnapshot(Entry[] entries, FileMapping[] mappings)
    {
        _entries = entries;
        _mappings = mappings;
        Regions = Array.ConvertAll(entries, e => new GuestMemoryRegion(e.GuestAddress, e.Size, e.Host));
    }

    /// <summary>An empty table (before the first SET_MEM_TABLE).</summary>
    public static MemoryTableSnapshot Empty { get; } = new([], []);

    /// <summary>The regions as guest memory sees them.</summary>
    public GuestMemoryRegion[] Regions { get; }

    /// <summary>How many regions the table has.</summary>
    public int Count => _entries.Length;

    /// <summary>One region of a table as the front-end described it, with its file.</summary>
    public readonly record struct Description(ulong GuestAddress, ulong Size, ulong UserAddress, ulong MmapOffset, UnixFileDescriptor File);

    private readonly record struct Entry(ulong GuestAddress, ulong Size, ulong UserAddress, IntPtr Host);

    /// <summary>
    /// Maps a table. A file that <paramref name="previous"/> already maps far enough keeps that mapping
    /// (no new mmap); each other file is mapped once, as far as its furthest region reaches.
    /// </summary>
    public static MemoryTableSnapshot Create(IReadOnlyList<Description> regions, MemoryTableSnapshot previous)
    {
        var mappings = new List<FileMapping>();
        var byRegion = new FileMapping[regions.Count];
        try
        {
            var identities = new (ulong Device, ulong Inode)[regions.Count];
            for (var i = 0; i < regions.Count; i++)
            {
                identities[i] = FileMapping.Identify(regions[i].File);
            }
            for (var i = 0; i < regions.Count; i++)
            {
                if (byRegion[i] is not null)
                {
                    continue;
                }
                // The furthest byte of this file that any region of the table needs.
                var end = 0UL;
                for (var j = i; j < regions.Count; j++)
                {
                    if (identities[j] == identities[i])
                    {
                        end = Math.Max(end, regions[j].MmapOffset + regions[j].Size);
                    }
                }
                var mapping = previous.Find(identities[i].Device, identities[i].Inode, end)?.AddReference()
                    ?? FileMapping.Map(regions[i].File, end);
                mappings.Add(mapping);
                for (var j = i; j < regions.Count; j++)
                {
                    if (identities[j] == identities[i])
                    {
                        byRegion[j] = mapping;
                    }
                }
            }
            var entries = new Entry[regions.Count];
            for (var i = 0; i < regions.Count; i++)
            {
                var region = regions[i];
                entries[i] = new Entry(region.GuestAddress, region.Size, region.UserAddress, byRegion[i].Address + (nint)region.MmapOffset);
            }
            return new MemoryTableSnapshot(entries, mappings.ToArray());
        }
        catch
        {
            foreach (var mapping in mappings)
            {
                mapping.Release();
            }
            throw;
        }
    }

    private FileMapping? Find(ulong device, ulong inode, ulong length)
    {
        foreach (var mapping in _mappings)
        {
            if (mapping.Covers(device, inode, length))
            {
                return mapping;
            }
        }
        return null;
    }

    /// <summary>The guest address of a front-end user address, or false when no region holds it.</summary>
    public bool TryTranslate(ulong user, out ulong guest)
    {
        foreach (var entry in _entries)
        {
            if (user >= entry.UserAddress && user - entry.UserAddress < entry.Size)
            {
                guest = entry.GuestAddress + (user - entry.UserAddress);
                return true;
            }
        }
        guest = 0;
        return false;
    }

    /// <summary>Takes one more reference.</summary>
    public MemoryTableSnapshot AddReference()
    {
        if (ReferenceEquals(this, Empty))
        {
            return this;
        }
        if (Interlocked.Increment(ref _references) <= 1)
        {
            throw new ObjectDisposedException(nameof(MemoryTableSnapshot), "the table was already released");
        }
        return this;
    }

    /// <summary>Drops one reference; the last one releases the file mappings (unmapping those no
    /// other table holds).</summary>
    public void Release()
    {
        if (ReferenceEquals(this, Empty) || Interlocked.Decrement(ref _references) != 0)
        {
            return;
        }
        foreach (var mapping in _mappings)
        {
            mapping.Release();
        }
    }
}
