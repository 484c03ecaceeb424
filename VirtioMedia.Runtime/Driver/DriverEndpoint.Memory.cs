using System;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Driver;

// Memory: MMAP buffers in shared memory region 0 (mapped, unmapped, revoked) and SHARED_PAGES buffers in driver memory.
public sealed partial class DriverEndpoint
{
    /// <summary>VIRTIO_MEDIA_CMD_MUNMAP: unmaps a buffer mapped with <see cref="DriverSession.MapAsync"/>.</summary>
    public async ValueTask UnmapAsync(MappedBuffer buffer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.IsUnmapped)
        {
            throw new ObjectDisposedException(nameof(MappedBuffer));
        }
        buffer.IsUnmapped = true;
        lock (_mapped)
        {
            _mapped.Remove(buffer);
        }
        var slot = await RentSlotAsync(16, 8, cancellationToken).ConfigureAwait(false);
        var writer = slot.RequestWriter();
        CommandCodec.EncodeMunmap(ref writer, buffer.DriverAddress);
        var written = await SendAsync(slot, (uint)writer.Written, 8, cancellationToken).ConfigureAwait(false);
        var reader = slot.ResponseReader(written);
        var decoded = CommandCodec.DecodeResponse(ref reader, out virtio_media_resp_munmap _, out var status);
        ReturnSlot(slot);
        ThrowIfBroken(decoded, "MUNMAP");
        if (status != 0)
        {
            throw new DeviceErrorException("MUNMAP failed", status);
        }
    }

    /// <summary>Allocates a SHARED_PAGES buffer of <paramref name="length"/> bytes in driver memory, one SG entry per page.</summary>
    public SharedPagesBuffer AllocateSharedPages(uint length) => AllocateSharedPages(length, SharedPagesLayout.Scattered);

    /// <summary>Allocates a SHARED_PAGES buffer of <paramref name="length"/> bytes in driver memory, laid out as
    /// <paramref name="layout"/> says.</summary>
    public SharedPagesBuffer AllocateSharedPages(uint length, SharedPagesLayout layout)
    {
        if (length == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length));
        }
        if (layout == SharedPagesLayout.Contiguous)
        {
            var size = SharedPagesBuffer.RoundUpToPages(length);
            if (size < length || !_heap.TryAllocate(size, out var run))
            {
                throw new InvalidOperationException($"driver memory has no free run of {length} bytes");
            }
            return new SharedPagesBuffer(_transport.Memory, _heap, [new virtio_media_sg_entry { start = run, len = length }], length);
        }
        if (layout != SharedPagesLayout.Scattered)
        {
            throw new ArgumentOutOfRangeException(nameof(layout), layout, "not a SharedPagesLayout");
        }
        var pages = (int)((length + SharedPagesBuffer.PageSize - 1) / SharedPagesBuffer.PageSize);
        var entries = new virtio_media_sg_entry[pages];
        var remaining = length;
        for (var i = 0; i < pages; i++)
        {
            if (!_heap.TryAllocate(SharedPagesBuffer.PageSize, out var page))
            {
                for (var j = 0; j < i; j++)
                {
                    _heap.Free(entries[pages - 1 - j].start, SharedPagesBuffer.PageSize);
                }
                throw new InvalidOperationException("driver memory exhausted");
            }
            // Listed back to front: consecutive entries are never adjacent in memory.
            entries[pages - 1 - i].start = page;
        }
        for (var i = 0; i < pages; i++)
        {
            entries[i].len = Math.Min(remaining, SharedPagesBuffer.PageSize);
            remaining -= entries[i].len;
        }
        return new SharedPagesBuffer(_transport.Memory, _heap, entries, length);
    }

    /// <summary>VIRTIO_MEDIA_CMD_MMAP for <paramref name="session"/>.</summary>
    internal async ValueTask<MappedBuffer> MapAsync(DriverSession session, uint memOffset, bool writable, CancellationToken cancellationToken)
    {
        var slot = await RentSlotAsync(24, 24, cancellationToken).ConfigureAwait(false);
        var writer = slot.RequestWriter();
        CommandCodec.EncodeMmap(ref writer, session.Id, writable ? (uint)Constants.VIRTIO_MEDIA_MMAP_FLAG_RW : 0, memOffset);
        var written = await SendAsync(slot, (uint)writer.Written, 24, cancellationToken).ConfigureAwait(false);
        var reader = slot.ResponseReader(written);
        var decoded = CommandCodec.DecodeResponse(ref reader, out virtio_media_resp_mmap response, out var status);
        ReturnSlot(slot);
        ThrowIfBroken(decoded, "MMAP");
        if (status != 0)
        {
            throw new DeviceErrorException($"MMAP of offset 0x{memOffset:X} failed", status);
        }
        var region = _transport.SharedMemory;
        if (response.len == 0 || response.driver_addr > region.Length || response.len > region.Length - response.driver_addr || response.len > int.MaxValue)
        {
            throw new DeviceProtocolException($"MMAP answered [0x{response.driver_addr:X}, +{response.len}), outside shared memory region 0 of {region.Length} bytes");
        }
        var buffer = new MappedBuffer(region, response.driver_addr, response.len);
        lock (_mapped)
        {
            _mapped.Add(buffer);
        }
        return buffer;
    }

    /// <summary>The device took [offset, +length) of region 0 back (the transport left zero pages there): every
    /// buffer mapped there is revoked, so its next access fails with a reason instead of reading zeros.</summary>
    private void OnSharedMemoryUnmapped(ulong offset, ulong length)
    {
        lock (_mapped)
        {
            for (var i = _mapped.Count - 1; i >= 0; i--)
            {
                if (_mapped[i].Overlaps(offset, length))
                {
                    _mapped[i].Revoke($"the device unmapped [0x{offset:X}, +{length}) of shared memory region 0, where this buffer was mapped at 0x{_mapped[i].DriverAddress:X}; its contents are gone");
                    _mapped.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>Revokes every buffer still mapped (the endpoint is gone; nothing can MUNMAP them any more).</summary>
    private void RevokeAllMappings()
    {
        if (_transport is ISharedMemoryUnmapSource unmaps)
        {
            unmaps.SharedMemoryUnmapped -= _onSharedMemoryUnmapped;
        }
        lock (_mapped)
        {
            foreach (var buffer in _mapped)
            {
                buffer.Revoke("the driver endpoint was disposed while this buffer was mapped");
            }
            _mapped.Clear();
        }
    }
}
