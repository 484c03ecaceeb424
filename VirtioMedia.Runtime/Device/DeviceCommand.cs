using System;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Virtqueues;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// A popped chain seen as byte streams for the codecs: its device-readable and device-writable buffers as
/// memory segments over guest memory. Pooled, so serving a command allocates nothing once warm.
/// </summary>
internal sealed class DeviceCommand
{
    /// <summary>The segments of each kind a pooled command keeps between chains, as
    /// <see cref="DescriptorChain.RetainedCapacity"/> does for buffers: a long chain grows the arrays for its
    /// own time only.</summary>
    internal const int RetainedSegments = DescriptorChain.RetainedCapacity;

    private ReadOnlyMemory<byte>[] _readable = new ReadOnlyMemory<byte>[4];
    private Memory<byte>[] _writable = new Memory<byte>[4];
    private NativeMemoryManager[] _managers = [];
    private int _readableCount;
    private int _writableCount;
    private GuestMemoryLease _lease;

    public DescriptorChain Chain { get; private set; } = null!;

    /// <summary>VIRTIO_MEDIA_CMD_* as peeked when routing.</summary>
    public uint Kind { get; set; }

    public ChainReader Reader => new(_readable.AsSpan(0, _readableCount));

    public ChainWriter Writer => new(_writable.AsSpan(0, _writableCount));

    /// <summary>Views <paramref name="chain"/> through the memory <paramref name="lease"/> holds; the command owns the
    /// lease from now on (taken before the chain was popped, so the descriptors were read under it too) and
    /// gives it back in <see cref="TakeLease"/> or <see cref="Unbind"/>.</summary>
    public void Bind(GuestMemoryLease lease, DescriptorChain chain)
    {
        var memory = lease.Memory!;
        _lease = lease;
        Chain = chain;
        var total = chain.Readable.Count + chain.Writable.Count;
        if (_managers.Length < total)
        {
            var grown = new NativeMemoryManager[Math.Max(total, _managers.Length * 2)];
            _managers.CopyTo(grown, 0);
            for (var i = _managers.Length; i < grown.Length; i++)
            {
                grown[i] = new NativeMemoryManager();
            }
            _managers = grown;
        }
        if (_readable.Length < chain.Readable.Count)
        {
            _readable = new ReadOnlyMemory<byte>[Math.Max(chain.Readable.Count, _readable.Length * 2)];
        }
        if (_writable.Length < chain.Writable.Count)
        {
            _writable = new Memory<byte>[Math.Max(chain.Writable.Count, _writable.Length * 2)];
        }
        var next = 0;
        _readableCount = chain.Readable.Count;
        for (var i = 0; i < _readableCount; i++)
        {
            var segment = chain.Readable[i];
            var manager = _managers[next++];
            manager.Reset(memory.GetSpan(segment.Address, segment.Length));
            _readable[i] = manager.Memory;
        }
        _writableCount = chain.Writable.Count;
        for (var i = 0; i < _writableCount; i++)
        {
            var segment = chain.Writable[i];
            var manager = _managers[next++];
            manager.Reset(memory.GetSpan(segment.Address, segment.Length));
            _writable[i] = manager.Memory;
        }
    }

    /// <summary>Forgets the chain so the pool holds no guest memory views. Arrays a long chain grew shrink back to <see cref="RetainedSegments"/> (and the memory managers to twice
    /// that), so a pooled command holds no more whatever a driver once sent.</summary>
    public void Unbind()
    {
        TakeLease().Dispose();
        Array.Clear(_readable, 0, _readableCount);
        Array.Clear(_writable, 0, _writableCount);
        _readableCount = _writableCount = 0;
        Chain = null!;
        if (_readable.Length > RetainedSegments)
        {
            _readable = new ReadOnlyMemory<byte>[RetainedSegments];
        }
        if (_writable.Length > RetainedSegments)
        {
            _writable = new Memory<byte>[RetainedSegments];
        }
        if (_managers.Length > 2 * RetainedSegments)
        {
            Array.Resize(ref _managers, 2 * RetainedSegments);
        }
    }

    /// <summary>Hands the lease over to the caller (who still writes the used entry under it); the command keeps none.</summary>
    public GuestMemoryLease TakeLease()
    {
        var lease = _lease;
        _lease = default;
        return lease;
    }

    /// <summary>The segment slots this command holds (readable, writable, memory managers), for tests of the bound.</summary>
    internal int RetainedSlots => _readable.Length + _writable.Length + _managers.Length;

    /// <summary>Writes a header-only response (when there is room) and returns its length.</summary>
    public uint WriteStatus(int status)
    {
        var writer = Writer;
        CommandCodec.EncodeErrorResponse(ref writer, status);
        return (uint)writer.Written;
    }
}
