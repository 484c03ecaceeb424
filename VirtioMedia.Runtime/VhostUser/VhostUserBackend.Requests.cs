using System;
using System.Runtime.InteropServices;

namespace VirtioMedia.Runtime.VhostUser;

public sealed partial class VhostUserBackend
{
    // One method per front-end request (vhost-user.rst, "Front-end message types"), and the payload readers they share.
    private sealed partial class Connection
    {
        private byte[]? GetFeatures()
        {
            return VhostUserProtocol.U64(OfferedFeatures);
        }

        private byte[]? SetFeatures(VhostUserMessage message)
        {
            var features = ReadU64(message);
            if ((features & ~OfferedFeatures) != 0)
            {
                throw new RefusedException($"features 0x{features:X} include some never offered (0x{OfferedFeatures:X})");
            }
            StopDevice("features changed");
            _features = features;
            if ((features & VhostUserFeatures.Bit(VhostUserFeatures.VHOST_USER_F_PROTOCOL_FEATURES)) == 0)
            {
                // "Communication" > "Ring states": without protocol features every ring is enabled at once.
                foreach (var vring in _vrings)
                {
                    vring.Enabled = true;
                }
            }
            return null;
        }

        private byte[]? GetProtocolFeatures()
        {
            return VhostUserProtocol.U64(owner.OfferedProtocolFeatures);
        }

        private byte[]? SetProtocolFeatures(VhostUserMessage message)
        {
            var features = ReadU64(message);
            if ((features & ~owner.OfferedProtocolFeatures) != 0)
            {
                throw new RefusedException($"protocol features 0x{features:X} include some never offered (0x{owner.OfferedProtocolFeatures:X})");
            }
            _protocolFeatures = features;
            return null;
        }

        private byte[]? SetOwner()
        {
            return null;
        }

        private byte[]? ResetOwner()
        {
            // Deprecated; the specification recommends treating it as "disable all rings".
            StopDevice("RESET_OWNER");
            foreach (var vring in _vrings)
            {
                vring.Enabled = false;
            }
            return null;
        }

        private byte[]? SetVringNum(VhostUserMessage message)
        {
            var (vring, num) = ReadState(message);
            if (num == 0 || num > Options.MaxQueueSize || (num & (num - 1)) != 0)
            {
                throw new RefusedException($"queue size {num} is not a power of 2 up to {Options.MaxQueueSize}");
            }
            StopDevice("queue size changed");
            vring.Size = (ushort)num;
            return null;
        }

        private byte[]? SetVringBase(VhostUserMessage message)
        {
            var (vring, num) = ReadState(message);
            if (num > ushort.MaxValue)
            {
                throw new RefusedException($"vring base 0x{num:X} uses the reserved bits 16-31");
            }
            StopDevice("vring base changed");
            vring.Base = (ushort)num;
            return null;
        }

        private byte[]? GetVringBase(VhostUserMessage message)
        {
            var (vring, _) = ReadState(message, forReply: true);
            var index = Array.IndexOf(_vrings, vring);
            // "Ring states": GET_VRING_BASE stops the ring; it starts again on the next kick descriptor.
            StopDevice($"GET_VRING_BASE {index}");
            vring.Kick?.Dispose();
            vring.Kick = null;
            var reply = new byte[VhostUserProtocol.VringStateSize];
            MemoryMarshal.Write(reply, (uint)index);
            MemoryMarshal.Write(reply.AsSpan(4), (uint)vring.Base);
            return reply;
        }

        private byte[]? SetVringKick(VhostUserMessage message)
        {
            var (vring, fd) = ReadVringFile(message);
            if (fd is null)
            {
                throw new RefusedException("polling instead of a kick descriptor is not supported");
            }
            VerifyEventFd(fd, "kick");
            StopDevice("kick descriptor changed");
            vring.Kick?.Dispose();
            vring.Kick = new EventFdNotificationSource(fd, $"vhost-user kick {Array.IndexOf(_vrings, vring)}");
            return null;
        }

        private byte[]? SetVringCall(VhostUserMessage message)
        {
            var (vring, fd) = ReadVringFile(message);
            if (fd is not null)
            {
                VerifyEventFd(fd, "call");
            }
            (vring.Call.Swap(fd is null ? null : new EventFdNotifier(fd)) as IDisposable)?.Dispose();
            return null;
        }

        private byte[]? SetVringErr(VhostUserMessage message)
        {
            // Errors are never signalled through it; the descriptor is not kept.
            var (_, fd) = ReadVringFile(message);
            fd?.Dispose();
            return null;
        }

        private byte[]? GetQueueNum()
        {
            return VhostUserProtocol.U64(QueueCount);
        }

        private byte[]? SetVringEnable(VhostUserMessage message)
        {
            var (vring, num) = ReadState(message);
            if (num > 1)
            {
                throw new RefusedException($"SET_VRING_ENABLE takes 0 or 1, not {num}");
            }
            if (num == 0)
            {
                StopDevice("ring disabled");
            }
            vring.Enabled = num == 1;
            return null;
        }

        private byte[]? SetBackendReqFd(VhostUserMessage message)
        {
            if (!Negotiated(VhostUserProtocolFeatures.BACKEND_REQ))
            {
                throw new RefusedException("SET_BACKEND_REQ_FD without VHOST_USER_PROTOCOL_F_BACKEND_REQ");
            }
            // The decoder made sure exactly one descriptor came.
            var fd = message.TakeFileDescriptor(0)!;
            _backendChannel?.Dispose();
            _backendChannel = new VhostUserChannel(fd);
            _sharedMapped = false;
            return null;
        }

        private byte[]? SetConfig()
        {
            throw new RefusedException("the virtio-media configuration space is read-only");
        }

        private byte[]? GetShmemConfig()
        {
            if (!Negotiated(VhostUserProtocolFeatures.SHMEM))
            {
                // An explicit reply is expected, so a refusal cannot be an ack: the connection ends.
                throw new RefusedException("GET_SHMEM_CONFIG without VHOST_USER_PROTOCOL_F_SHMEM");
            }
            var reply = new byte[VhostUserProtocol.SharedMemoryConfigSize];
            var regions = owner._sharedMemorySize == 0 ? 0u : 1u;
            MemoryMarshal.Write(reply, in regions);
            MemoryMarshal.Write(reply.AsSpan(8), in owner._sharedMemorySize);
            return reply;
        }

        /// <summary>Refuses a kick or call descriptor that is no eventfd (disposing it) and makes it non-blocking.</summary>
        private static void VerifyEventFd(UnixFileDescriptor fd, string what)
        {
            try
            {
                EventFd.Verify(fd, what);
            }
            catch
            {
                fd.Dispose();
                throw;
            }
        }

        // The payload readers rely on the decoder's sizes (Handle): a u64 is 8 bytes, a vring state 8.
        private static ulong ReadU64(VhostUserMessage message) => MemoryMarshal.Read<ulong>(message.Payload);

        private (Vring Vring, uint Num) ReadState(VhostUserMessage message, bool forReply = false)
        {
            var index = MemoryMarshal.Read<uint>(message.Payload);
            var num = MemoryMarshal.Read<uint>(message.Payload.AsSpan(4));
            if (index >= QueueCount)
            {
                throw forReply
                    ? new VhostUserProtocolException($"request {message.Request}: vring {index} does not exist")
                    : new RefusedException($"request {message.Request}: vring {index} does not exist (virtio-media has {QueueCount})");
            }
            return (_vrings[index], num);
        }

        private (Vring Vring, UnixFileDescriptor? Fd) ReadVringFile(VhostUserMessage message)
        {
            var value = ReadU64(message);
            var index = value & VhostUserProtocol.VringIndexMask;
            if (index >= QueueCount || (value & ~(VhostUserProtocol.VringIndexMask | VhostUserProtocol.InvalidFdFlag)) != 0)
            {
                throw new RefusedException($"request {message.Request}: 0x{value:X} names no vring of {QueueCount}");
            }
            // The decoder matched the descriptor count to the invalid-FD flag.
            var noFd = (value & VhostUserProtocol.InvalidFdFlag) != 0;
            return (_vrings[index], noFd ? null : message.TakeFileDescriptor(0));
        }

        private void SetVringAddress(VhostUserMessage message)
        {
            var payload = message.Payload.AsSpan();
            var index = MemoryMarshal.Read<uint>(payload);
            var flags = MemoryMarshal.Read<uint>(payload.Slice(4));
            var descriptor = MemoryMarshal.Read<ulong>(payload.Slice(8));
            var used = MemoryMarshal.Read<ulong>(payload.Slice(16));
            var available = MemoryMarshal.Read<ulong>(payload.Slice(24));
            if (index >= QueueCount)
            {
                throw new RefusedException($"vring {index} does not exist");
            }
            if ((flags & VhostUserProtocol.VringFlagLog) != 0)
            {
                throw new RefusedException("used-ring logging is not supported (VHOST_F_LOG_ALL is never offered)");
            }
            // Checked now when possible so the front-end hears about a bad address from this message.
            foreach (var address in (ReadOnlySpan<ulong>)[descriptor, used, available])
            {
                if (_memory is not null && !_table.TryTranslate(address, out _))
                {
                    throw new RefusedException($"ring address 0x{address:X} is in no memory region");
                }
            }
            StopDevice("ring addresses changed");
            var vring = _vrings[index];
            (vring.DescriptorUser, vring.UsedUser, vring.AvailableUser, vring.AddressSet) = (descriptor, used, available, true);
        }

        private byte[] GetConfig(VhostUserMessage message)
        {
            // The decoder checked the header and that size bytes follow it; the range is this device's.
            // "vhost-user back-end uses zero length of payload to indicate an error".
            var offset = MemoryMarshal.Read<uint>(message.Payload);
            var size = MemoryMarshal.Read<uint>(message.Payload.AsSpan(4));
            var flags = MemoryMarshal.Read<uint>(message.Payload.AsSpan(8));
            if ((ulong)offset + size > (ulong)Options.Config.Length)
            {
                Options.Log?.Invoke($"GET_CONFIG refused: {message.Payload.Length}-byte request outside the {Options.Config.Length}-byte config space");
                return [];
            }
            var reply = new byte[VhostUserProtocol.ConfigHeaderSize + size];
            MemoryMarshal.Write(reply, in offset);
            MemoryMarshal.Write(reply.AsSpan(4), in size);
            MemoryMarshal.Write(reply.AsSpan(8), in flags);
            Options.Config.Span.Slice((int)offset, (int)size).CopyTo(reply.AsSpan(VhostUserProtocol.ConfigHeaderSize));
            return reply;
        }
    }
}
