using System;
using System.Collections.Generic;
using System.Threading;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.VhostUser.Interop;

namespace VirtioMedia.Runtime.Transport;

/// <summary>
/// A virtio shared memory region (virtio-media uses region 0 for MMAP buffers): memory the device owns
/// and the driver maps, addressed by offset. In-process it is native memory both endpoints see; over
/// vhost-user it is a memfd the backend maps and hands to the frontend with SHMEM_MAP. A transport
/// without the region (a VMM that does not negotiate vhost-user SHMEM, or none configured) has one of
/// <see cref="Length"/> 0 that refuses every access (<see cref="None"/>).
/// </summary>
/// <remarks>
/// As guest memory (<see cref="GuestMemory"/>), whoever touches the region outside a command (a device rendering
/// into an MMAP buffer on its own thread) holds a <see cref="SharedMemoryLease"/> while it may use the spans it
/// got: <see cref="Dispose"/> ends the region at once for new accesses and frees or unmaps its memory only when
/// the last lease is returned.
/// <para>
/// A region whose memory this process mapped itself (<see cref="Allocate"/>) can have a file mapped over a page range
/// (<see cref="MapFile"/>): a device then shares memory with another owner of that file, such as a host V4L2
/// driver's buffer exported as a dma-buf, without copying. Where the driver sees the region through another process's
/// mapping (the vhost-user front-end maps the back-end's memfd itself), such an overlay would be seen by this process
/// only, so those regions refuse it (<see cref="CanMapFiles"/>).
/// </para>
/// </remarks>
public sealed unsafe class SharedMemoryRegion : IDisposable
{
    // Set in _leases by Dispose: accesses after it find no memory; the count below it is the leases still out.
    private const int Ended = int.MinValue / 2;

    private readonly bool _ownsMemory;
    private readonly Action? _released;
    private readonly List<SharedMemoryFileMapping> _fileMappings = new();
    private byte* _host;
    private volatile bool _ended;
    private int _leases;
    private int _freed;

    /// <summary>Wraps host memory the caller keeps mapped for the region's lifetime.</summary>
    public SharedMemoryRegion(byte id, IntPtr host, ulong length)
        : this(id, host, length, released: null)
    {
    }

    /// <summary>Wraps host memory someone else owns; <paramref name="released"/> (the unmapping) runs once the region
    /// is disposed and its last lease returned.</summary>
    public SharedMemoryRegion(byte id, IntPtr host, ulong length, Action? released)
    {
        _released = released;
        if (host == IntPtr.Zero || length == 0)
        {
            throw new ArgumentException("a shared memory region needs memory");
        }
        Id = id;
        _host = (byte*)host;
        Length = length;
    }

    private SharedMemoryRegion(byte id, byte* host, ulong length, bool ownsMemory)
    {
        Id = id;
        _host = host;
        Length = length;
        _ownsMemory = ownsMemory;
    }

    /// <summary>Maps zeroed, page-aligned anonymous memory for a region; <paramref name="length"/> 0
    /// gives <see cref="None"/> (nothing allocated).</summary>
    /// <remarks>A mapping of its own (not the heap) so that <see cref="MapFile"/> may replace pages of it.</remarks>
    public static SharedMemoryRegion Allocate(byte id, ulong length)
    {
        if (length == 0)
        {
            return None(id);
        }
        var memory = AnonymousPages(null, (nuint)length);
        if (memory == LibC.MapFailed)
        {
            throw new OutOfMemoryException($"shared memory region {id} of {length} bytes: mmap failed with errno {LibC.LastError}");
        }
        return new SharedMemoryRegion(id, (byte*)memory, length, ownsMemory: true);
    }

    /// <summary>The region a transport has when the device has no shared memory region
    /// <paramref name="id"/>: <see cref="Length"/> 0, no memory, every access refused. A device reads
    /// <c>Length &gt; 0</c> to tell whether it may hand out MMAP buffers.</summary>
    public static SharedMemoryRegion None(byte id) => new(id, null, 0, ownsMemory: false);

    /// <summary>The virtio shared memory region id (0 for virtio-media MMAP buffers).</summary>
    public byte Id { get; }

    /// <summary>The region's size in bytes.</summary>
    public ulong Length { get; }

    /// <summary>The host address of offset 0 (zero when the region does not exist).</summary>
    public IntPtr Host => (IntPtr)_host;

    /// <summary>The bytes at [<paramref name="offset"/>, +<paramref name="length"/>), or false outside the region.</summary>
    public bool TryGetSpan(ulong offset, ulong length, out Span<byte> span)
    {
        if (_host == null || _ended || offset > Length || length > Length - offset || length > int.MaxValue)
        {
            span = default;
            return false;
        }
        span = new Span<byte>(_host + offset, (int)length);
        return true;
    }

    /// <summary>The bytes at an offset; throws <see cref="ArgumentOutOfRangeException"/> outside the region.</summary>
    public Span<byte> GetSpan(ulong offset, ulong length) =>
        TryGetSpan(offset, length, out var span)
            ? span
            : throw new ArgumentOutOfRangeException(nameof(offset), $"[0x{offset:X}, +{length}) is outside shared memory region {Id} of {Length} bytes");

    /// <summary>
    /// Whether <see cref="MapFile"/> can work: the region is live memory this process mapped itself, so the bytes
    /// every user of the region reads are this process's pages. False for <see cref="None"/>, for memory wrapped from
    /// someone else (a vhost-user back-end's memfd, whose front-end maps the file on its own and would never see an
    /// overlay), and once the region has ended.
    /// </summary>
    public bool CanMapFiles => _ownsMemory && _host != null && !_ended;

    /// <summary>
    /// Maps <paramref name="length"/> bytes of file <paramref name="fd"/> from <paramref name="fileOffset"/> over the
    /// region's bytes at [<paramref name="offset"/>, +<paramref name="length"/> rounded up to a page), shared and
    /// writable: the region's bytes there are the file's pages until the returned mapping is disposed, which puts
    /// private memory holding the file's last bytes back (detached from the file). The descriptor may be closed once this returns (the mapping keeps the file).
    /// </summary>
    /// <exception cref="NotSupportedException">The region cannot have files mapped over it (<see cref="CanMapFiles"/>).</exception>
    /// <exception cref="ArgumentException">The offset is not page aligned, the range is empty, outside the region, or
    /// overlaps another file mapping.</exception>
    /// <exception cref="System.IO.IOException">mmap refused the file (the message names the errno).</exception>
    public SharedMemoryFileMapping MapFile(int fd, long fileOffset, ulong offset, ulong length)
    {
        var page = (ulong)Environment.SystemPageSize;
        if (!CanMapFiles)
        {
            throw new NotSupportedException(_host == null || _ended
                ? $"shared memory region {Id} has no memory to map a file over"
                : $"shared memory region {Id} is memory mapped by another process too (a vhost-user front-end maps it on its own): a file mapped here would not be seen there");
        }
        if (fd < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(fd), fd, "not a file descriptor");
        }
        if (offset % page != 0 || fileOffset < 0 || (ulong)fileOffset % page != 0)
        {
            throw new ArgumentException($"offset 0x{offset:X} in region {Id} and file offset 0x{fileOffset:X} must be multiples of the page size ({page})", nameof(offset));
        }
        if (length == 0 || length > Length || offset > Length - length)
        {
            throw new ArgumentException($"[0x{offset:X}, +{length}) is empty or outside shared memory region {Id} of {Length} bytes", nameof(length));
        }
        var rounded = (length + page - 1) / page * page;
        if (rounded > Length - offset)
        {
            throw new ArgumentException($"[0x{offset:X}, +{length}) rounded to whole pages ({rounded}) ends past shared memory region {Id} of {Length} bytes", nameof(length));
        }
        // The lease keeps the region's memory mapped while this replaces part of it.
        if (!TryLease())
        {
            throw new NotSupportedException($"shared memory region {Id} has ended");
        }
        try
        {
            lock (_fileMappings)
            {
                foreach (var existing in _fileMappings)
                {
                    if (offset < existing.Offset + existing.Length && existing.Offset < offset + rounded)
                    {
                        throw new ArgumentException($"[0x{offset:X}, +{rounded}) overlaps the file already mapped at [0x{existing.Offset:X}, +{existing.Length}) of region {Id}", nameof(offset));
                    }
                }
                // A file shorter than the range would fault (SIGBUS) on access past its end; dma-bufs and memfds
                // answer their size to lseek(SEEK_END).
                var size = LibC.Lseek(fd, 0, LibC.SEEK_END);
                if (size >= 0 && (ulong)size < (ulong)fileOffset + rounded)
                {
                    throw new ArgumentException($"the file has {size} bytes: [0x{fileOffset:X}, +{rounded}) of it runs past its end", nameof(length));
                }
                var mapped = LibC.Mmap(_host + offset, (nuint)rounded, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED | LibC.MAP_FIXED, fd, fileOffset);
                if (mapped == LibC.MapFailed)
                {
                    var errno = LibC.LastError;
                    // Depending on the kernel, a failed MAP_FIXED may have unmapped the old pages already: zeroed
                    // memory goes back so that the range is never a hole.
                    AnonymousPages(_host + offset, (nuint)rounded);
                    throw LibC.Failure("mmap", errno);
                }
                var mapping = new SharedMemoryFileMapping(this, offset, rounded);
                _fileMappings.Add(mapping);
                return mapping;
            }
        }
        finally
        {
            Return();
        }
    }

    /// <summary>How many file mappings are live (<see cref="MapFile"/>).</summary>
    public int FileMappings
    {
        get
        {
            lock (_fileMappings)
            {
                return _fileMappings.Count;
            }
        }
    }

    // Puts private pages holding the file's last bytes back over a file mapping: a driver's mapping of the range keeps
    // what it showed until the driver unmaps it (the spec's MMAP rule), detached from the file. The copy is made aside and
    // moved over the range in one mremap, so a reader never sees a hole or zeros. Once the region has ended, it is
    // unmapped as a whole (the overlay with it) when the last lease returns, so nothing is mapped here: the address may
    // belong to someone else.
    internal void Unmap(SharedMemoryFileMapping mapping)
    {
        lock (_fileMappings)
        {
            if (!_fileMappings.Remove(mapping))
            {
                return;
            }
        }
        if (!TryLease())
        {
            return;
        }
        try
        {
            var target = _host + mapping.Offset;
            var length = (nuint)mapping.Length;
            var aside = AnonymousPages(null, length);
            if (aside != LibC.MapFailed)
            {
                Buffer.MemoryCopy(target, aside, mapping.Length, mapping.Length);
                if (LibC.Mremap(aside, length, length, LibC.MREMAP_MAYMOVE | LibC.MREMAP_FIXED, target) != LibC.MapFailed)
                {
                    return;
                }
                LibC.Munmap(aside, length);
            }
            // Only an exhausted address space gets here: zeroed pages then, or, should even that fail, the file's pages
            // stay until the region is unmapped, which is safe (never a hole), so a release never throws.
            AnonymousPages(target, length);
        }
        finally
        {
            Return();
        }
    }

    // Zeroed private read-write pages: anywhere (address null), or in place of whatever is mapped at address.
    private static void* AnonymousPages(byte* address, nuint length) =>
        LibC.Mmap(address, length, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | (address == null ? 0 : LibC.MAP_FIXED), -1, 0);

    private bool TryLease()
    {
        if (Interlocked.Increment(ref _leases) > 0)
        {
            return true;
        }
        Return();
        return false;
    }

    /// <summary>Takes a lease: until it is disposed, the region's memory stays mapped even if the region is disposed.</summary>
    public SharedMemoryLease Lease() => Interlocked.Increment(ref _leases) > 0 ? new SharedMemoryLease(this) : ReturnAndRefuse();

    private SharedMemoryLease ReturnAndRefuse()
    {
        // Already ended: this lease holds nothing, and later accesses find no memory.
        Return();
        return default;
    }

    internal void Return()
    {
        if (Interlocked.Decrement(ref _leases) == Ended)
        {
            Free();
        }
    }

    /// <summary>Ends the region: later accesses are refused, and the memory is freed (or its release action run) once
    /// no lease is left.</summary>
    public void Dispose()
    {
        if (_ended)
        {
            return;
        }
        _ended = true;
        if (Interlocked.Add(ref _leases, Ended) == Ended)
        {
            Free();
        }
    }

    private void Free()
    {
        // A lease refused after the end returns through the same count, so the end can be reached twice.
        if (Interlocked.Exchange(ref _freed, 1) != 0)
        {
            return;
        }
        if (_ownsMemory && _host != null)
        {
            // Unmaps every file mapped over the region with it.
            LibC.Munmap(_host, (nuint)Length);
        }
        _host = null;
        _released?.Invoke();
    }
}

/// <summary>A lease on a <see cref="SharedMemoryRegion"/> (see its remarks); a default lease holds nothing.</summary>
public readonly struct SharedMemoryLease : IDisposable
{
    private readonly SharedMemoryRegion? _region;

    internal SharedMemoryLease(SharedMemoryRegion region) => _region = region;

    /// <summary>Returns the lease.</summary>
    public void Dispose() => _region?.Return();
}

/// <summary>A file mapped over part of a <see cref="SharedMemoryRegion"/> (<see cref="SharedMemoryRegion.MapFile"/>);
/// disposing it puts private memory holding the file's last bytes back. Thread-safe; disposing twice does nothing.</summary>
public sealed class SharedMemoryFileMapping : IDisposable
{
    private readonly SharedMemoryRegion _region;
    private int _disposed;

    internal SharedMemoryFileMapping(SharedMemoryRegion region, ulong offset, ulong length) =>
        (_region, Offset, Length) = (region, offset, length);

    /// <summary>Where the file starts in the region.</summary>
    public ulong Offset { get; }

    /// <summary>The bytes mapped (whole pages).</summary>
    public ulong Length { get; }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _region.Unmap(this);
        }
    }
}
