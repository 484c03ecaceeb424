using System;
using System.Collections.Generic;

namespace VirtioMedia.Runtime.Memory;

/// <summary>
/// First-fit allocator of aligned ranges inside [start, start + length), with neighbouring free ranges merged
/// on release. Thread-safe. Serves the driver's buffers in guest memory and the device's MMAP buffers in
/// shared memory region 0; it only hands out numbers, never touches the memory.
/// </summary>
internal sealed class RangeAllocator
{
    private readonly object _gate = new();
    private readonly List<(ulong Start, ulong Length)> _free = new();
    private readonly ulong _alignment;

    public RangeAllocator(ulong start, ulong length, ulong alignment)
    {
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), "alignment is a power of 2");
        }
        _alignment = alignment;
        var alignedStart = Align(start);
        if (alignedStart - start < length)
        {
            _free.Add((alignedStart, (length - (alignedStart - start)) & ~(alignment - 1)));
        }
    }

    /// <summary>Reserves <paramref name="length"/> bytes (rounded up to the alignment), or returns false when no free range is big enough.</summary>
    public bool TryAllocate(ulong length, out ulong start)
    {
        start = 0;
        if (length == 0 || length > ulong.MaxValue - _alignment)
        {
            return false;
        }
        var size = Align(length);
        lock (_gate)
        {
            for (var i = 0; i < _free.Count; i++)
            {
                var range = _free[i];
                if (range.Length < size)
                {
                    continue;
                }
                start = range.Start;
                if (range.Length == size)
                {
                    _free.RemoveAt(i);
                }
                else
                {
                    _free[i] = (range.Start + size, range.Length - size);
                }
                return true;
            }
        }
        return false;
    }

    /// <summary>Returns a range from <see cref="TryAllocate"/> with the same length.</summary>
    public void Free(ulong start, ulong length)
    {
        var size = Align(length);
        lock (_gate)
        {
            var index = 0;
            while (index < _free.Count && _free[index].Start < start)
            {
                index++;
            }
            if ((index > 0 && _free[index - 1].Start + _free[index - 1].Length > start) || (index < _free.Count && start + size > _free[index].Start))
            {
                throw new InvalidOperationException($"range [0x{start:X}, +{size}) is already free");
            }
            _free.Insert(index, (start, size));
            if (index + 1 < _free.Count && start + size == _free[index + 1].Start)
            {
                _free[index] = (start, size + _free[index + 1].Length);
                _free.RemoveAt(index + 1);
            }
            if (index > 0 && _free[index - 1].Start + _free[index - 1].Length == start)
            {
                _free[index - 1] = (_free[index - 1].Start, _free[index - 1].Length + _free[index].Length);
                _free.RemoveAt(index);
            }
        }
    }

    private ulong Align(ulong value) => (value + _alignment - 1) & ~(_alignment - 1);
}
