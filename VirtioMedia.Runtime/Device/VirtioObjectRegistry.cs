using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// Virtio objects by UUID (the VIRTIO_OBJECT memory type, the counterpart of DMABUF). Device endpoints that
/// share one registry can hand buffers to each other: EXPBUF on one exports an MMAP buffer, a QBUF with
/// memory VIRTIO_OBJECT on another imports it by UUID. Thread-safe.
/// </summary>
public sealed class VirtioObjectRegistry
{
    private readonly ConcurrentDictionary<Guid, MmapBuffer> _objects = new();

    /// <summary>How many objects are registered.</summary>
    public int Count => _objects.Count;

    /// <summary>
    /// Exports <paramref name="buffer"/> as a virtio object. A buffer has one UUID, as virtio-gpu assigns one UUID
    /// to a resource (VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID): exporting it again answers the same one, so the
    /// registry never holds more entries than there are live buffers. The export lasts until <see cref="Remove"/>,
    /// until its owner allocates again after releasing it, or until the owner's session closes (CLOSE, the endpoint
    /// stopping). Returns false when the buffer has been released, or is exported to another registry.
    /// </summary>
    public bool TryExport(MmapBuffer buffer, out Guid uuid)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        uuid = Guid.Empty;
        lock (buffer.ExportGate)
        {
            if (buffer.TryGetExport(out var registry, out var existing))
            {
                uuid = existing;
                return registry == this;
            }
            if (!MmapAllocator.TryRetain(buffer))
            {
                return false;
            }
            uuid = Guid.NewGuid();
            _objects[uuid] = buffer;
            buffer.SetExport(this, uuid);
            return true;
        }
    }

    /// <summary>Finds the object a UUID names.</summary>
    public bool TryResolve(Guid uuid, out VirtioObject obj)
    {
        if (_objects.TryGetValue(uuid, out var buffer))
        {
            obj = new VirtioObject(uuid, buffer);
            return true;
        }
        obj = default;
        return false;
    }

    /// <summary>Withdraws an export, letting the buffer's memory go once nothing else holds it.</summary>
    public bool Remove(Guid uuid)
    {
        if (!_objects.TryGetValue(uuid, out var buffer))
        {
            return false;
        }
        lock (buffer.ExportGate)
        {
            if (!buffer.TryGetExport(out var registry, out var existing) || registry != this || existing != uuid)
            {
                return false; // withdrawn by its owner meanwhile
            }
            buffer.SetExport(null, Guid.Empty);
        }
        return Withdraw(uuid, buffer);
    }

    /// <summary>Drops the entry of <paramref name="buffer"/>'s export and the reference it held.</summary>
    internal bool Withdraw(Guid uuid, MmapBuffer buffer)
    {
        if (!_objects.TryRemove(new KeyValuePair<Guid, MmapBuffer>(uuid, buffer)))
        {
            return false;
        }
        buffer.Owner.Endpoint.Mmap.Drop(buffer);
        return true;
    }
}

/// <summary>A resolved virtio object: its UUID and its memory.</summary>
/// <param name="Uuid">The object's UUID.</param>
/// <param name="Buffer">The device buffer that backs it.</param>
public readonly record struct VirtioObject(Guid Uuid, MmapBuffer Buffer)
{
    /// <summary>The object's size in bytes.</summary>
    public ulong Length => Buffer.Length;

    /// <summary>The object's bytes.</summary>
    public Span<byte> Span => Buffer.Span;

    /// <summary>
    /// Takes a reference on the object's memory for a device that hands it to someone outside the registry's
    /// bookkeeping (a host driver writing into it): the buffer's range of region 0 is not given to another buffer
    /// until the hold is disposed, even if the export is withdrawn meanwhile. Null when the memory is already gone.
    /// </summary>
    public VirtioObjectHold? TryHold() => Buffer is not null && Buffer.TryAddReference() ? new VirtioObjectHold(Buffer) : null;
}

/// <summary>A reference on a virtio object's memory (<see cref="VirtioObject.TryHold"/>); disposing it twice does nothing.</summary>
public sealed class VirtioObjectHold : IDisposable
{
    private int _disposed;

    internal VirtioObjectHold(MmapBuffer buffer) => Buffer = buffer;

    /// <summary>The device buffer held.</summary>
    public MmapBuffer Buffer { get; }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Buffer.Owner.Endpoint.Mmap.Drop(Buffer);
        }
    }
}
