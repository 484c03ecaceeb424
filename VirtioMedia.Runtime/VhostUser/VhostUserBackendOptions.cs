using System;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>What a <see cref="VhostUserBackend"/> offers its front-ends.</summary>
public sealed class VhostUserBackendOptions
{
    /// <summary>The device configuration space served by GET_CONFIG (for virtio-media, the 40
    /// <c>virtio_media_config</c> bytes).</summary>
    public required ReadOnlyMemory<byte> Config { get; init; }

    /// <summary>The size of shared memory region 0 (MMAP buffers), rounded up to a page; 0 for none
    /// (VHOST_USER_PROTOCOL_F_SHMEM is then not offered and the device sees a region of length 0).</summary>
    public ulong SharedMemorySize { get; init; } = 64 << 20;

    /// <summary>The largest queue size accepted by SET_VRING_NUM.</summary>
    public ushort MaxQueueSize { get; init; } = 1024;

    /// <summary>Whether SET_MEM_TABLE accepts guest memory in a file that cannot be sealed against
    /// shrinking (a memory-backend-file on /dev/shm, a memfd without MFD_ALLOW_SEALING). False, the default,
    /// refuses such a table with an error reply: the front-end, or anyone else holding the file, could
    /// truncate it under the mapping and every later access to the lost pages would kill this process with
    /// SIGBUS. True accepts it for front-ends that are trusted not to.</summary>
    public bool AcceptUnsealableMemory { get; init; }

    /// <summary>How long the front-end may take to answer a request on the back-end channel.</summary>
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a stop that is still waiting for the device to finish says so in the log. The
    /// stop waits for the device however long that takes: memory is never released under it.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Receives one line per noteworthy event (connection, start, stop, why a connection was dropped).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Receives one line per vhost-user message on either channel, both ways (see
    /// <see cref="VhostUserTrace"/> for the format: request, flags, size, descriptor count, payload in
    /// hex); null, the default, traces nothing.</summary>
    public Action<string>? Trace { get; init; }
}
