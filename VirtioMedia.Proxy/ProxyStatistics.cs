using System;
using System.Threading;

namespace VirtioMedia.Proxy;

/// <summary>The ways a proxied frame reaches the guest's memory, and what each costs in copies.</summary>
public enum ProxyMemoryPath
{
    /// <summary>MMAP, the host buffer exported (VIDIOC_EXPBUF) and its dma-buf mapped over the buffer's range of shared
    /// memory region 0: the region's bytes are the host buffer's pages, no copy.</summary>
    MmapZeroCopy,

    /// <summary>MMAP, copied between the host node's mapping and region 0 (export refused, or a region shared with a
    /// vhost-user front-end): one copy per plane.</summary>
    MmapCopy,

    /// <summary>SHARED_PAGES whose SG list is one host range, handed to the host as USERPTR in place: no copy.</summary>
    SharedPagesDirect,

    /// <summary>SHARED_PAGES through a bounce buffer: one copy per plane.</summary>
    SharedPagesBounce,

    /// <summary>VIRTIO_OBJECT: the object's memory handed to the host as USERPTR in place: no copy (or one per plane
    /// where the host refuses that memory and a bounce buffer stands in).</summary>
    VirtioObject,
}

/// <summary>How each memory path moved frames: frames done, and bytes-copying passes made for them.</summary>
public sealed class ProxyStatistics
{
    private const int PathCount = (int)ProxyMemoryPath.VirtioObject + 1;
    private readonly long[] _frames = new long[PathCount];
    private readonly long[] _copies = new long[PathCount];

    /// <summary>Frames done on <paramref name="path"/> (DQBUF of capture buffers, QBUF of output ones).</summary>
    public long Frames(ProxyMemoryPath path) => Interlocked.Read(ref _frames[Index(path)]);

    /// <summary>Copies made for the frames of <paramref name="path"/> (one per plane copied).</summary>
    public long Copies(ProxyMemoryPath path) => Interlocked.Read(ref _copies[Index(path)]);

    /// <summary>Copies per frame on <paramref name="path"/>, 0 when it moved no frame.</summary>
    public double CopiesPerFrame(ProxyMemoryPath path) => Frames(path) is var frames && frames == 0 ? 0 : (double)Copies(path) / frames;

    /// <summary>MMAP frames done, on either MMAP path.</summary>
    public long MmapFrames => Frames(ProxyMemoryPath.MmapZeroCopy) + Frames(ProxyMemoryPath.MmapCopy);

    /// <summary>Copies made for MMAP frames (host buffer to shared memory region 0, or back for output).</summary>
    public long MmapCopies => Copies(ProxyMemoryPath.MmapZeroCopy) + Copies(ProxyMemoryPath.MmapCopy);

    /// <summary>SHARED_PAGES frames done, on either path.</summary>
    public long SharedPagesFrames => Frames(ProxyMemoryPath.SharedPagesDirect) + Frames(ProxyMemoryPath.SharedPagesBounce);

    /// <summary>Copies made for SHARED_PAGES frames (through a bounce buffer when the pages are not one host range).</summary>
    public long SharedPagesCopies => Copies(ProxyMemoryPath.SharedPagesDirect) + Copies(ProxyMemoryPath.SharedPagesBounce);

    internal void CountFrame(ProxyMemoryPath path, int copies)
    {
        Interlocked.Increment(ref _frames[(int)path]);
        Interlocked.Add(ref _copies[(int)path], copies);
    }

    private static int Index(ProxyMemoryPath path) =>
        (uint)path < PathCount ? (int)path : throw new ArgumentOutOfRangeException(nameof(path), path, "not a memory path");
}
