using System;
using System.Collections.Generic;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// A SHARED_PAGES buffer as the device sees it: guest memory scattered over the SG entries the driver sent.
/// <see cref="Load"/> checks every entry against guest memory once, so later reads and writes cannot fault.
/// Reusable: a device keeps one per buffer slot and reloads it at each QBUF.
/// </summary>
public sealed class GuestScatterList
{
    private readonly GuestMemory _memory;
    private readonly List<virtio_media_sg_entry> _entries = new();

    /// <summary>An empty list over <paramref name="memory"/>.</summary>
    public GuestScatterList(GuestMemory memory) => _memory = memory ?? throw new ArgumentNullException(nameof(memory));

    /// <summary>The bytes the list covers.</summary>
    public ulong Length { get; private set; }

    /// <summary>The number of SG entries.</summary>
    public int Count => _entries.Count;

    /// <summary>Takes <paramref name="entries"/>; fails with EFAULT (and stays empty) when an entry is outside guest memory.</summary>
    public WireResult Load(ReadOnlySpan<virtio_media_sg_entry> entries)
    {
        _entries.Clear();
        Length = 0;
        ulong total = 0;
        foreach (var entry in entries)
        {
            if (!_memory.TryGetSpan(entry.start, entry.len, out _))
            {
                _entries.Clear();
                return WireResult.Fail(Constants.EFAULT, "SG entry outside guest memory");
            }
            _entries.Add(entry);
            total += entry.len;
        }
        Length = total;
        return WireResult.Ok;
    }

    /// <summary>Copies <paramref name="source"/> to the buffer at <paramref name="offset"/>; false (nothing written) when it does not fit.</summary>
    public bool TryWrite(ulong offset, ReadOnlySpan<byte> source)
    {
        if (offset > Length || (ulong)source.Length > Length - offset)
        {
            return false;
        }
        // A copy into guest pages can run on a device's own thread, outside any command: it holds its own lease.
        using var lease = _memory.Lease();
        foreach (var entry in _entries)
        {
            if (source.IsEmpty)
            {
                break;
            }
            if (offset >= entry.len)
            {
                offset -= entry.len;
                continue;
            }
            var count = (int)Math.Min(entry.len - offset, (ulong)source.Length);
            source.Slice(0, count).CopyTo(_memory.GetSpan(entry.start + offset, (ulong)count));
            source = source.Slice(count);
            offset = 0;
        }
        return true;
    }

    /// <summary>Copies the buffer from <paramref name="offset"/> into <paramref name="destination"/>; false (nothing read) when out of range.</summary>
    public bool TryRead(ulong offset, Span<byte> destination)
    {
        if (offset > Length || (ulong)destination.Length > Length - offset)
        {
            return false;
        }
        using var lease = _memory.Lease();
        foreach (var entry in _entries)
        {
            if (destination.IsEmpty)
            {
                break;
            }
            if (offset >= entry.len)
            {
                offset -= entry.len;
                continue;
            }
            var count = (int)Math.Min(entry.len - offset, (ulong)destination.Length);
            _memory.GetSpan(entry.start + offset, (ulong)count).CopyTo(destination);
            destination = destination.Slice(count);
            offset = 0;
        }
        return true;
    }
}
