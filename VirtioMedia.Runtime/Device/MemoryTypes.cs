using System;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// The buffer memory types a device accepts in REQBUFS and CREATE_BUFS: MMAP (buffers in shared memory region 0),
/// SHARED_PAGES (guest pages, V4L2's USERPTR) and VIRTIO_OBJECT (buffers of another device, V4L2's DMABUF).
/// </summary>
[Flags]
public enum MemoryTypes
{
    /// <summary>No memory type.</summary>
    None = 0,

    /// <summary>V4L2_MEMORY_MMAP: the device provides the buffers in shared memory region 0.</summary>
    Mmap = 1,

    /// <summary>V4L2_MEMORY_USERPTR: the driver provides guest pages (SHARED_PAGES).</summary>
    SharedPages = 2,

    /// <summary>V4L2_MEMORY_DMABUF: the driver passes virtio objects exported by another device (VIRTIO_OBJECT).</summary>
    VirtioObject = 4,

    /// <summary>Every memory type.</summary>
    All = Mmap | SharedPages | VirtioObject,
}
