using System;

namespace VirtioMedia.Runtime.Memory;

/// <summary>
/// A range of guest-physical addresses backed by host memory: native memory of this process, or a
/// shared mapping (memfd) that another process maps too.
/// </summary>
public sealed unsafe class GuestMemoryRegion : IDisposable
{
    private readonly bool _ownsMemory;
    private byte* _host;

    /// <summary>Wraps host memory the caller keeps alive for the region's lifetime.</summary>
    /// <param name="guestAddress">The first guest-physical address.</param>
    /// <param name="length">The size in bytes.</param>
    /// <param name="host">The host address that backs <paramref name="guestAddress"/>.</param>
    public GuestMemoryRegion(ulong guestAddress, ulong length, IntPtr host)
        : this(guestAddress, length, (byte*)host, ownsMemory: false)
    {
    }

    private GuestMemoryRegion(ulong guestAddress, ulong length, byte* host, bool ownsMemory)
    {
        if (length == 0 || guestAddress + length < guestAddress)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"region [0x{guestAddress:X}, +{length}) is empty or wraps around");
        }
        if (host == null)
        {
            throw new ArgumentNullException(nameof(host));
        }
        GuestAddress = guestAddress;
        Length = length;
        _host = host;
        _ownsMemory = ownsMemory;
    }

    /// <summary>Allocates zeroed, page-aligned native memory for a region.</summary>
    public static GuestMemoryRegion Allocate(ulong guestAddress, ulong length)
    {
        return new GuestMemoryRegion(guestAddress, length, PageMemory.Allocate(length), ownsMemory: true);
    }

    /// <summary>The first guest-physical address.</summary>
    public ulong GuestAddress { get; }

    /// <summary>The size in bytes.</summary>
    public ulong Length { get; }

    /// <summary>The host address of the first byte.</summary>
    public IntPtr Host => (IntPtr)_host;

    internal byte* HostPointer => _host;

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_ownsMemory && _host != null)
        {
            PageMemory.Free(_host);
        }
        _host = null;
    }
}
