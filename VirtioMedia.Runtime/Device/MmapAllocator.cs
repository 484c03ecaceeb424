using System;
using System.Collections.Concurrent;
using System.Threading;
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
    private readonly ulong _usable;
    private long _allocatedBytes;

    internal MmapAllocator(SharedMemoryRegion region)
    {
        // mem_offset is a __u32, so every offset must fit in 32 bits.
        var usable = Math.Min(region.Length, 1UL << 32);
        _region = region;
        _usable = usable & ~(PageSize - 1);
        _ranges = new RangeAllocator(0, usable, PageSize);
    }

    /// <summary>Bytes of region 0 buffers may use (page-aligned, at most 4 GiB).</summary>
    public ulong Capacity => _usable;

    /// <summary>Bytes no live buffer holds (page-rounded lengths).</summary>
    public ulong FreeBytes => _usable - (ulong)Interlocked.Read(ref _allocatedBytes);

    /// <summary>The region buffers live in.</summary>
    public SharedMemoryRegion Region => _region;

    /// <summary>How many buffers still hold memory (allocated, mapped or exported).</summary>
    public int LiveBuffers => _buffers.Count;

    /// <summary>
    /// Reserves a zeroed buffer of <paramref name="length"/> bytes for <paramref name="owner"/>, or null when the
    /// region is full. The exports of buffers the owner released before are withdrawn first: a session holds the
    /// memory of at most its current buffers and the exported ones it released last.
    /// </summary>
    public MmapBuffer? Allocate(DeviceSession owner, ulong length)
    {
        ArgumentNullException.ThrowIfNull(owner);
        foreach (var entry in _buffers)
        {
            if (entry.Value.Owner == owner && entry.Value.IsReleased)
            {
                WithdrawExport(entry.Value);
            }
        }
        if (length == 0 || !_ranges.TryAllocate(length, out var offset))
        {
            return null;
        }
        _region.GetSpan(offset, length).Clear();
        Interlocked.Add(ref _allocatedBytes, (long)Rounded(length));
        var buffer = new MmapBuffer(_region, owner, offset, length);
        _buffers[offset] = buffer;
        return buffer;
    }

    /// <summary>
    /// The owner lets the buffer go (REQBUFS to 0): its memory is freed once no mapping or export remains. An export
    /// outlives the release, as a dma-buf outlives the V4L2 buffer it was exported from (videobuf2: the dma-buf
    /// holds its own reference on the memory), so another session may still import it; it is withdrawn when the
    /// owner allocates again or its session closes.
    /// </summary>
    public void Release(MmapBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.MarkReleased())
        {
            Drop(buffer);
        }
    }

    /// <summary>Releases every buffer <paramref name="owner"/> still holds and withdraws their exports (its session is gone).</summary>
    internal void ReleaseAll(DeviceSession owner)
    {
        foreach (var entry in _buffers)
        {
            if (entry.Value.Owner == owner)
            {
                Release(entry.Value);
                WithdrawExport(entry.Value);
            }
        }
    }

    /// <summary>Withdraws <paramref name="buffer"/>'s export, if any: an import of its UUID fails from then on.</summary>
    private static void WithdrawExport(MmapBuffer buffer)
    {
        if (buffer.TakeExport(out var registry, out var uuid))
        {
            registry!.Withdraw(uuid, buffer);
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

    private static ulong Rounded(ulong length) => (length + PageSize - 1) & ~(PageSize - 1);

    internal void Drop(MmapBuffer buffer)
    {
        if (buffer.RemoveReference())
        {
            _buffers.TryRemove(buffer.Offset, out _);
            _ranges.Free(buffer.Offset, buffer.Length);
            Interlocked.Add(ref _allocatedBytes, -(long)Rounded(buffer.Length));
        }
    }
}
