namespace VirtioMedia.Runtime.VhostUser;

/// <summary>
/// Numbers of the vhost-user protocol as the specification shipped with QEMU 11 defines them
/// (docs/interop/vhost-user.rst, installed by Debian's qemu-system-common 1:11.1.3 as
/// interop/vhost-user.html): the released revision with VIRTIO Shared Memory Regions
/// (GET_SHMEM_CONFIG 44, BACKEND_SHMEM_MAP 9 and UNMAP 10, protocol feature bit 22), not the
/// earlier drafts of that series, which numbered the feature 20. All integers are in the machine's
/// byte order ("Message Specification": "All numbers are in the machine native byte order").
/// </summary>
public static class VhostUserProtocol
{
    // "Header": request u32, flags u32, size u32.

    /// <summary>The header size: request, flags and size, 32 bits each.</summary>
    public const int HeaderSize = 12;

    /// <summary>"Header", flags: the lower 2 bits are the version, currently 0x01.</summary>
    public const uint Version = 0x1;

    /// <summary>"Header", flags: mask of the version bits.</summary>
    public const uint VersionMask = 0x3;

    /// <summary>"Header", flags: bit 2, the reply flag, set on each reply.</summary>
    public const uint ReplyFlag = 0x4;

    /// <summary>"Header", flags: bit 3, need_reply (see "VHOST_USER_PROTOCOL_F_REPLY_ACK").</summary>
    public const uint NeedReplyFlag = 0x8;

    // Limits.

    /// <summary>"Multiple Memory regions description": the table holds 8 regions.</summary>
    public const int MaxMemoryRegions = 8;

    /// <summary>"Back-end communication": at most 8 descriptors in each message; also the memory
    /// table's 8. No message carries more.</summary>
    public const int MaxFileDescriptors = 8;

    /// <summary>The largest payload this implementation accepts: the biggest message it knows is the
    /// shared memory configuration (8 + 256 * 8 = 2056 bytes); anything larger is refused before it is read.</summary>
    public const int MaxPayloadSize = 4096;

    /// <summary>The largest config space access accepted (QEMU's VHOST_USER_MAX_CONFIG_SIZE, 256).</summary>
    public const int MaxConfigSize = 256;

    /// <summary>"VIRTIO Shared Memory Region configuration": an array of 256 region sizes.</summary>
    public const int MaxSharedMemoryRegions = 256;

    // Payload sizes ("Payload").

    /// <summary>"A single 64-bit integer".</summary>
    public const int U64Size = 8;

    /// <summary>"A vring state description": index u32, num u32.</summary>
    public const int VringStateSize = 8;

    /// <summary>"A vring address description": index u32, flags u32, descriptor, used, available, log u64.</summary>
    public const int VringAddressSize = 40;

    /// <summary>"Memory region description": guest address, size, user address, mmap offset, u64 each.</summary>
    public const int MemoryRegionSize = 32;

    /// <summary>"Multiple Memory regions description": num regions u32 and padding u32 before the regions.</summary>
    public const int MemoryTableHeaderSize = 8;

    /// <summary>"Virtio device config space": offset u32, size u32, flags u32, then the bytes.</summary>
    public const int ConfigHeaderSize = 12;

    /// <summary>"VIRTIO Shared Memory Region configuration": num regions u32, padding u32, 256 sizes u64.</summary>
    public const int SharedMemoryConfigSize = 8 + 8 * MaxSharedMemoryRegions;

    /// <summary>"MMAP request": shmid u8, padding to 8, fd_offset, shm_offset, len, flags u64.</summary>
    public const int MmapRequestSize = 40;

    /// <summary>"MMAP request", flags: 1 maps the pages read-write (0 read-only).</summary>
    public const ulong MapReadWrite = 1;

    /// <summary>SET_VRING_KICK/CALL/ERR payload: bits 0-7 hold the vring index.</summary>
    public const ulong VringIndexMask = 0xFF;

    /// <summary>SET_VRING_KICK/CALL/ERR payload: bit 8 is the invalid FD flag (no descriptor, poll instead).</summary>
    public const ulong InvalidFdFlag = 0x100;

    /// <summary>"A vring address description", flags: VHOST_VRING_F_LOG (bit 0), log the used ring.</summary>
    public const uint VringFlagLog = 0x1;

    /// <summary>A "single 64-bit integer" payload.</summary>
    internal static byte[] U64(ulong value)
    {
        var bytes = new byte[U64Size];
        System.Runtime.InteropServices.MemoryMarshal.Write(bytes, in value);
        return bytes;
    }
}

/// <summary>Virtio and vhost-user feature bits exchanged by GET/SET_FEATURES.</summary>
public static class VhostUserFeatures
{
    /// <summary>VIRTIO_F_RING_EVENT_IDX (virtio 1.x, 6 "Reserved Feature Bits": bit 29).</summary>
    public const int VIRTIO_F_RING_EVENT_IDX = 29;

    /// <summary>VHOST_USER_F_PROTOCOL_FEATURES (vhost-user.rst, "Communication": bit 30).</summary>
    public const int VHOST_USER_F_PROTOCOL_FEATURES = 30;

    /// <summary>VIRTIO_F_VERSION_1 (virtio 1.x, 6 "Reserved Feature Bits": bit 32).</summary>
    public const int VIRTIO_F_VERSION_1 = 32;

    /// <summary>The bit of a feature number.</summary>
    public static ulong Bit(int feature) => 1UL << feature;
}

/// <summary>Protocol feature bits (vhost-user.rst, "Protocol features").</summary>
public static class VhostUserProtocolFeatures
{
    /// <summary>VHOST_USER_PROTOCOL_F_MQ.</summary>
    public const int MQ = 0;

    /// <summary>VHOST_USER_PROTOCOL_F_REPLY_ACK.</summary>
    public const int REPLY_ACK = 3;

    /// <summary>VHOST_USER_PROTOCOL_F_BACKEND_REQ.</summary>
    public const int BACKEND_REQ = 5;

    /// <summary>VHOST_USER_PROTOCOL_F_CONFIG.</summary>
    public const int CONFIG = 9;

    /// <summary>VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD.</summary>
    public const int BACKEND_SEND_FD = 10;

    /// <summary>VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT (never offered; QEMU 11 clears it for
    /// devices that do not ask for it). Drafts of the shared memory series used this number for SHMEM.</summary>
    public const int GET_VRING_BASE_INFLIGHT = 20;

    /// <summary>VHOST_USER_PROTOCOL_F_GPA_ADDRESSES (never offered: ring addresses stay user addresses).</summary>
    public const int GPA_ADDRESSES = 21;

    /// <summary>VHOST_USER_PROTOCOL_F_SHMEM, bit 22 (the specification's list of defines names it
    /// VHOST_USER_PROTOCOL_F_SHMEM_MAP; its message sections call it F_SHMEM).</summary>
    public const int SHMEM = 22;
}

/// <summary>Front-end message types (vhost-user.rst, "Front-end message types", the :id: of each).</summary>
public static class VhostUserRequest
{
    /// <summary>VHOST_USER_GET_FEATURES, id 1.</summary>
    public const uint GET_FEATURES = 1;

    /// <summary>VHOST_USER_SET_FEATURES, id 2.</summary>
    public const uint SET_FEATURES = 2;

    /// <summary>VHOST_USER_SET_OWNER, id 3.</summary>
    public const uint SET_OWNER = 3;

    /// <summary>VHOST_USER_RESET_OWNER, id 4 (deprecated; disables all rings here).</summary>
    public const uint RESET_OWNER = 4;

    /// <summary>VHOST_USER_SET_MEM_TABLE, id 5.</summary>
    public const uint SET_MEM_TABLE = 5;

    /// <summary>VHOST_USER_SET_VRING_NUM, id 8.</summary>
    public const uint SET_VRING_NUM = 8;

    /// <summary>VHOST_USER_SET_VRING_ADDR, id 9.</summary>
    public const uint SET_VRING_ADDR = 9;

    /// <summary>VHOST_USER_SET_VRING_BASE, id 10.</summary>
    public const uint SET_VRING_BASE = 10;

    /// <summary>VHOST_USER_GET_VRING_BASE, id 11.</summary>
    public const uint GET_VRING_BASE = 11;

    /// <summary>VHOST_USER_SET_VRING_KICK, id 12.</summary>
    public const uint SET_VRING_KICK = 12;

    /// <summary>VHOST_USER_SET_VRING_CALL, id 13.</summary>
    public const uint SET_VRING_CALL = 13;

    /// <summary>VHOST_USER_SET_VRING_ERR, id 14.</summary>
    public const uint SET_VRING_ERR = 14;

    /// <summary>VHOST_USER_GET_PROTOCOL_FEATURES, id 15.</summary>
    public const uint GET_PROTOCOL_FEATURES = 15;

    /// <summary>VHOST_USER_SET_PROTOCOL_FEATURES, id 16.</summary>
    public const uint SET_PROTOCOL_FEATURES = 16;

    /// <summary>VHOST_USER_GET_QUEUE_NUM, id 17.</summary>
    public const uint GET_QUEUE_NUM = 17;

    /// <summary>VHOST_USER_SET_VRING_ENABLE, id 18.</summary>
    public const uint SET_VRING_ENABLE = 18;

    /// <summary>VHOST_USER_SET_BACKEND_REQ_FD (formerly SET_SLAVE_REQ_FD), id 21.</summary>
    public const uint SET_BACKEND_REQ_FD = 21;

    /// <summary>VHOST_USER_GET_CONFIG, id 24.</summary>
    public const uint GET_CONFIG = 24;

    /// <summary>VHOST_USER_SET_CONFIG, id 25.</summary>
    public const uint SET_CONFIG = 25;

    /// <summary>VHOST_USER_GET_SHMEM_CONFIG, id 44.</summary>
    public const uint GET_SHMEM_CONFIG = 44;
}

/// <summary>Back-end message types, sent on the back-end channel (vhost-user.rst, "Back-end message types").</summary>
public static class VhostUserBackendRequest
{
    /// <summary>VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, id 2.</summary>
    public const uint CONFIG_CHANGE_MSG = 2;

    /// <summary>VHOST_USER_BACKEND_SHMEM_MAP, id 9: fd and an MMAP request.</summary>
    public const uint SHMEM_MAP = 9;

    /// <summary>VHOST_USER_BACKEND_SHMEM_UNMAP, id 10: an MMAP request.</summary>
    public const uint SHMEM_UNMAP = 10;
}
