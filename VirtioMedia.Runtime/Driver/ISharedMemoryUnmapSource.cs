using System;

namespace VirtioMedia.Runtime.Driver;

/// <summary>
/// A driver transport whose shared memory region 0 the device can take back on its own (vhost-user SHMEM_UNMAP):
/// the transport replaces the range with zero pages and says so, and the driver endpoint revokes every
/// <see cref="MappedBuffer"/> there so the application learns it on its next access instead of reading zeros.
/// </summary>
public interface ISharedMemoryUnmapSource
{
    /// <summary>Raised after [offset, +length) of region 0 stopped being the device's memory.</summary>
    event Action<ulong, ulong>? SharedMemoryUnmapped;
}
