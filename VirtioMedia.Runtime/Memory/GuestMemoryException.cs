using System;

namespace VirtioMedia.Runtime.Memory;

/// <summary>An access outside guest memory: the address range is not backed by any region.</summary>
public sealed class GuestMemoryException : Exception
{
    /// <summary>Describes the failed access.</summary>
    public GuestMemoryException(ulong address, ulong length, string reason)
        : base($"guest memory access [0x{address:X}, +{length}) {reason}")
    {
        Address = address;
        Length = length;
    }

    /// <summary>The first guest-physical address of the access.</summary>
    public ulong Address { get; }

    /// <summary>The length of the access in bytes.</summary>
    public ulong Length { get; }
}
