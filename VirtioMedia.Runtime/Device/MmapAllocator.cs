using System;
using System.Collections.Concurrent;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// Allocates MMAP buffers in shared memory region 0 and serves the MMAP and MUNMAP commands. A mapping keeps
/// its buffer's memory until MUNMAP, even after the session released the buffer or was closed (spec: "Unmapping
/// a MMAP buffer").
/// </summary>
public sealed class MmapAllocator
{
    /// <summary>Buffers are page-aligned, as a mapping needs.</summary>
    public const ulong PageSize = 4096;

    private readonly SharedMemoryRegion _region;
    private readonly RangeAllocator _ranges;
    private readonly ConcurrentDictionary<ulong, MmapBuffer> _buffers = new();

    internal MmapAllocator(SharedMemoryRegion region)
    {
        // mem_offset is a __u32, so every offset must fit in 32 bits.
        var usable = Math.Min(region.Length, 1UL << 32);
        _region = region;
        _ranges = new RangeAllocator(0, usable, PageSize);
    }

    /// <summary>The region buffers live in.</summary>
    public SharedMemoryRegion Region => _region;

    /// <summary>How many buffers still hold memory (allocated, mapped or exported).</summary>
    public int LiveBuffers => _buffers.Count;

    /// <summary>Reserves a zeroed buffer of <paramref name="length"/> bytes for <paramref name="owner"/>, or null when the region is full.</summary>
    public MmapBuffer? Allocate(DeviceSession owner, ulong length)
    {
        ArgumentNullException.ThrowIfNull(owner);
        if (length == 0 || !_ranges.TryAllocate(length, out var offset))
        {
            return null;
        }
        _region.GetSpan(offset, length).Clear();
        var buffer = new MmapBuffer(_region, owner, offset, length);
        _buffers[offset] = buffer;
        return buffer;
    }

    /// <summary>The owner lets the buffer go (REQBUFS to 0, session closed); its memory is freed when no mapping or export remains.</summary>
    public void Release(MmapBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.MarkReleased())
        {
            Drop(buffer);
        }
    }

    /// <summary>Releases every buffer <paramref name="owner"/> still holds (its session is gone).</summary>
    internal void ReleaseAll(DeviceSession owner)
    {
        foreach (var entry in _buffers)
        {
            if (entry.Value.Owner == owner)
            {
                Release(entry.Value);
            }
        }
    }

    /// <summary>Finds a live buffer by its offset.</summary>
    public bool TryFind(ulong offset, out MmapBuffer buffer) => _buffers.TryGetValue(offset, out buffer!);

    /// <summary>MMAP: maps the session's buffer at <paramref name="memOffset"/>; false when the session owns no unreleased buffer there.</summary>
    internal bool TryMap(DeviceSession session, uint memOffset, out MmapBuffer buffer)
    {
        if (!_buffers.TryGetValue(memOffset, out buffer!) || buffer.Owner != session || buffer.IsReleased || !buffer.TryAddReference())
        {
            return false;
        }
        buffer.AddMapping();
        return true;
    }

    /// <summary>MUNMAP: drops one mapping at <paramref name="driverAddress"/>; false when nothing is mapped there.</summary>
    internal bool TryUnmap(ulong driverAddress)
    {
        if (!_buffers.TryGetValue(driverAddress, out var buffer) || !buffer.TryRemoveMapping())
        {
            return false;
        }
        Drop(buffer);
        return true;
    }

    /// <summary>Takes a reference for an export; false when the buffer is gone.</summary>
    internal static bool TryRetain(MmapBuffer buffer) => !buffer.IsReleased && buffer.TryAddReference();

    internal void Drop(MmapBuffer buffer)
    {
        if (buffer.RemoveReference())
        {
            _buffers.TryRemove(buffer.Offset, out _);
            _ranges.Free(buffer.Offset, buffer.Length);
        }
    }
}
