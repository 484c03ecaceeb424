using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Proxy;

/// <summary>The proxy's view of one buffer queue of the host file: its memory type and each buffer's memory on both sides.</summary>
internal sealed class ProxyQueue
{
    public ProxyQueue(uint type) => Type = type;

    public uint Type { get; }

    /// <summary>The guest's memory type.</summary>
    public uint Memory { get; set; }

    /// <summary>The host queue's memory type: the guest's, but USERPTR for VIRTIO_OBJECT (DMABUF), whose objects the
    /// host reads and writes in place at their address in this process.</summary>
    public uint HostMemory => HostMemoryOf(Memory);

    /// <summary>The host memory type that serves guest memory type <paramref name="memory"/>.</summary>
    public static uint HostMemoryOf(uint memory) => memory == Constants.V4L2_MEMORY_DMABUF ? Constants.V4L2_MEMORY_USERPTR : memory;

    public bool Streaming { get; set; }

    public List<ProxyBuffer> Buffers { get; } = new();

    /// <summary>videodev2.h V4L2_TYPE_IS_MULTIPLANAR.</summary>
    public bool MultiPlanar => Type is Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE or Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;

    /// <summary>The guest fills the buffers.</summary>
    public bool Output => IsOutput(Type);

    /// <summary>videodev2.h V4L2_TYPE_IS_OUTPUT.</summary>
    public static bool IsOutput(uint type) => type is Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT or Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE
        or Constants.V4L2_BUF_TYPE_VIDEO_OVERLAY or Constants.V4L2_BUF_TYPE_VBI_OUTPUT or Constants.V4L2_BUF_TYPE_SLICED_VBI_OUTPUT
        or Constants.V4L2_BUF_TYPE_SDR_OUTPUT or Constants.V4L2_BUF_TYPE_META_OUTPUT;

    /// <summary>Frees every buffer's host mappings, shared-memory buffers and bounce buffers.</summary>
    public void Release(MmapAllocator allocator)
    {
        foreach (var buffer in Buffers)
        {
            buffer.Release(allocator);
        }
        Buffers.Clear();
        Streaming = false;
    }
}

/// <summary>One buffer: per memory plane, its twin in region 0 and either the host buffer's dma-buf mapped over the twin
/// (zero copy) or the host node's MMAP mapping it is copied from (MMAP); the guest pages and, when they are not one host
/// range, the bounce buffer handed to the host as USERPTR (SHARED_PAGES); or the virtio object held and its memory handed
/// to the host as USERPTR (VIRTIO_OBJECT).</summary>
internal sealed unsafe class ProxyBuffer
{
    public int Planes { get; set; } = 1;

    /// <summary>The host buffer's dma-buf mapped over the twin: the twin's bytes are the host's (no copy).</summary>
    public SharedMemoryFileMapping?[] Overlay { get; } = new SharedMemoryFileMapping?[Constants.VIDEO_MAX_PLANES];

    /// <summary>The virtio object each plane was last queued with, held until another replaces it or the buffer goes.</summary>
    public VirtioObjectHold?[] Objects { get; } = new VirtioObjectHold?[Constants.VIDEO_MAX_PLANES];

    /// <summary>Objects a QBUF being served names in place of the held ones, until the host takes or refuses it.</summary>
    public VirtioObjectHold?[] PendingObjects { get; } = new VirtioObjectHold?[Constants.VIDEO_MAX_PLANES];

    /// <summary>After the host's answer to a QBUF or PREPARE_BUF: <paramref name="taken"/>, the new objects replace
    /// the held ones (the host now uses them); otherwise they are let go and the held ones, still the host's, stay.</summary>
    public void CommitObjects(bool taken)
    {
        for (var plane = 0; plane < Constants.VIDEO_MAX_PLANES; plane++)
        {
            if (PendingObjects[plane] is not { } pending)
            {
                continue;
            }
            PendingObjects[plane] = null;
            if (taken)
            {
                Objects[plane]?.Dispose();
                Objects[plane] = pending;
            }
            else
            {
                pending.Dispose();
            }
        }
    }

    /// <summary>The guest's fd placeholder of each plane (VIRTIO_OBJECT), answered unchanged as the specification asks.</summary>
    public int[] GuestFd { get; } = new int[Constants.VIDEO_MAX_PLANES];

    /// <summary>The memory path the buffer's frames take (every plane alike, else the copying one).</summary>
    public ProxyMemoryPath PathOf(uint memory)
    {
        var inPlace = true;
        for (var plane = 0; plane < Planes; plane++)
        {
            inPlace &= memory switch
            {
                Constants.V4L2_MEMORY_MMAP => Overlay[plane] is not null,
                Constants.V4L2_MEMORY_USERPTR => Direct[plane],
                _ => true,
            };
        }
        return memory switch
        {
            Constants.V4L2_MEMORY_MMAP => inPlace ? ProxyMemoryPath.MmapZeroCopy : ProxyMemoryPath.MmapCopy,
            Constants.V4L2_MEMORY_USERPTR => inPlace ? ProxyMemoryPath.SharedPagesDirect : ProxyMemoryPath.SharedPagesBounce,
            _ => ProxyMemoryPath.VirtioObject,
        };
    }

    public uint[] HostOffset { get; } = new uint[Constants.VIDEO_MAX_PLANES];

    public uint[] HostLength { get; } = new uint[Constants.VIDEO_MAX_PLANES];

    public IntPtr[] HostMap { get; } = new IntPtr[Constants.VIDEO_MAX_PLANES];

    public MmapBuffer?[] Shared { get; } = new MmapBuffer?[Constants.VIDEO_MAX_PLANES];

    public GuestScatterList?[] Pages { get; } = new GuestScatterList?[Constants.VIDEO_MAX_PLANES];

    /// <summary>Where the host writes or reads the plane: the guest pages themselves, or the bounce buffer.</summary>
    public IntPtr[] UserPointer { get; } = new IntPtr[Constants.VIDEO_MAX_PLANES];

    public IntPtr[] Bounce { get; } = new IntPtr[Constants.VIDEO_MAX_PLANES];

    public ulong[] BounceLength { get; } = new ulong[Constants.VIDEO_MAX_PLANES];

    public bool[] Direct { get; } = new bool[Constants.VIDEO_MAX_PLANES];

    /// <summary>A bounce buffer of at least <paramref name="length"/> bytes for <paramref name="plane"/>, kept across QBUFs.</summary>
    public IntPtr BounceFor(int plane, ulong length)
    {
        if (BounceLength[plane] < length)
        {
            FreeBounce(plane);
            // Page-aligned, as a local application's USERPTR memory would be.
            Bounce[plane] = (IntPtr)NativeMemory.AlignedAlloc((nuint)length, (nuint)MmapAllocator.PageSize);
            BounceLength[plane] = length;
        }
        return Bounce[plane];
    }

    private void FreeBounce(int plane)
    {
        if (Bounce[plane] != IntPtr.Zero)
        {
            NativeMemory.AlignedFree((void*)Bounce[plane]);
            Bounce[plane] = IntPtr.Zero;
            BounceLength[plane] = 0;
        }
    }

    public void Release(MmapAllocator allocator)
    {
        for (var plane = 0; plane < Constants.VIDEO_MAX_PLANES; plane++)
        {
            // The overlay gives way to a private copy of the host's bytes before the twin is let go (its range may be
            // allocated again, and must not alias a host buffer then).
            Overlay[plane]?.Dispose();
            Overlay[plane] = null;
            HostNode.Unmap(HostMap[plane], HostLength[plane]);
            HostMap[plane] = IntPtr.Zero;
            Objects[plane]?.Dispose();
            Objects[plane] = null;
            PendingObjects[plane]?.Dispose();
            PendingObjects[plane] = null;
            GuestFd[plane] = 0;
            if (Shared[plane] is { } shared)
            {
                allocator.Release(shared);
                Shared[plane] = null;
            }
            FreeBounce(plane);
        }
    }
}
