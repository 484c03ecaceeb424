using System;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Runtime.VhostUser;

public sealed partial class VhostUserBackend
{
    /// <summary>One front-end connection: its state, the message loop, and the framing around each
    /// request (the reply rule in one place: <see cref="Handle"/>); the requests themselves are in
    /// VhostUserBackend.Requests.cs, the memory table in .Memory.cs, the device run in .Lifecycle.cs,
    /// the back-end channel in .BackendChannel.cs.</summary>
    private sealed partial class Connection(VhostUserBackend owner, VhostUserChannel channel)
    {
        private readonly Vring[] _vrings = [new Vring(), new Vring()];
        private MemoryTableSnapshot _table = MemoryTableSnapshot.Empty;
        private GuestMemory? _memory;
        private ulong _features;
        private ulong _protocolFeatures;
        private VhostUserChannel? _backendChannel;
        private Task _backendTail = Task.CompletedTask;
        private MemoryFile? _sharedFile;
        private SharedMemoryRegion? _sharedRegion;
        private bool _sharedMapped;
        private DeviceRun? _running;
        private CancellationToken _connectionToken;

        private VhostUserBackendOptions Options => owner._options;

        private bool Negotiated(int protocolFeature) => (_protocolFeatures & VhostUserFeatures.Bit(protocolFeature)) != 0;

        public void Run(CancellationToken cancellationToken)
        {
            _connectionToken = cancellationToken;
            using var registration = cancellationToken.Register(channel.Shutdown);
            Options.Log?.Invoke("front-end connected");
            try
            {
                while (true)
                {
                    using var message = channel.Receive();
                    if (message is null)
                    {
                        Options.Log?.Invoke("front-end disconnected");
                        return;
                    }
                    Options.Trace?.Invoke(VhostUserTrace.Format(VhostUserTrace.MainChannel, VhostUserTrace.FromFrontend, message.Request, message.Flags, message.Payload, message.FileDescriptorCount));
                    if (!Handle(message))
                    {
                        return;
                    }
                }
            }
            catch (Exception error) when (error is VhostUserProtocolException or System.IO.IOException or TimeoutException)
            {
                Options.Log?.Invoke($"connection dropped: {error.Message}");
            }
            finally
            {
                Close();
            }
        }

        /// <summary>Handles one message; false ends the connection. The framing rules (header, payload size,
        /// descriptor count) are <see cref="VhostUserRequestDecoder"/>'s alone: a request method runs only on a
        /// message they accept, and checks only what needs the connection's state.</summary>
        private bool Handle(VhostUserMessage message)
        {
            var status = VhostUserRequestDecoder.CheckHeader(message.Flags, (uint)message.Payload.Length);
            if (status != VhostUserDecodeStatus.Valid)
            {
                Options.Log?.Invoke($"connection dropped: request {message.Request}: {status}");
                return false;
            }
            status = VhostUserRequestDecoder.CheckPayload(message.Request, message.Payload, message.FileDescriptorCount);
            if (status != VhostUserDecodeStatus.Valid)
            {
                if (message.Request == VhostUserRequest.GET_CONFIG)
                {
                    // "vhost-user back-end uses zero length of payload to indicate an error".
                    Options.Log?.Invoke($"GET_CONFIG refused: {status} ({message.Payload.Length} bytes, {message.FileDescriptorCount} descriptors)");
                    SendReply(message.Request, []);
                    return true;
                }
                return Refuse(message, $"{status} ({message.Payload.Length} bytes, {message.FileDescriptorCount} descriptors)");
            }
            byte[]? reply;
            try
            {
                reply = Dispatch(message);
            }
            catch (Exception error) when (error is RefusedException or ArgumentException or GuestMemoryException or System.IO.IOException)
            {
                return Refuse(message, error.Message);
            }
            // Started before the reply: once the front-end has the ack of the message that completed the
            // set-up, the device runs.
            TryStart();
            if (reply is not null)
            {
                SendReply(message.Request, reply);
            }
            else if (message.NeedsReply && Negotiated(VhostUserProtocolFeatures.REPLY_ACK))
            {
                SendU64(message.Request, 0);
            }
            return true;
        }

        /// <summary>Refuses a request: with a non-zero ack where the front-end waits for one (need_reply under
        /// REPLY_ACK, on a request without a reply of its own); otherwise there is no way to say so and the
        /// connection ends (false).</summary>
        private bool Refuse(VhostUserMessage message, string reason)
        {
            if (message.NeedsReply && Negotiated(VhostUserProtocolFeatures.REPLY_ACK) && !VhostUserRequestDecoder.HasExplicitReply(message.Request))
            {
                Options.Log?.Invoke($"request {message.Request} refused: {reason}");
                SendU64(message.Request, 1);
                return true;
            }
            Options.Log?.Invoke($"connection dropped: request {message.Request} refused without a way to say so: {reason}");
            return false;
        }

        private void SendU64(uint request, ulong value)
        {
            Span<byte> payload = stackalloc byte[8];
            MemoryMarshal.Write(payload, in value);
            SendReply(request, payload);
        }

        private void SendReply(uint request, ReadOnlySpan<byte> payload)
        {
            const uint flags = VhostUserProtocol.Version | VhostUserProtocol.ReplyFlag;
            channel.Send(request, flags, payload);
            Options.Trace?.Invoke(VhostUserTrace.Format(VhostUserTrace.MainChannel, VhostUserTrace.FromBackend, request, flags, payload, 0));
        }

        /// <summary>Performs a request; returns the explicit reply payload, or null for none (an ack may follow).</summary>
        private byte[]? Dispatch(VhostUserMessage message)
        {
            switch (message.Request)
            {
                case VhostUserRequest.GET_FEATURES:
                    return GetFeatures();
                case VhostUserRequest.SET_FEATURES:
                    return SetFeatures(message);
                case VhostUserRequest.GET_PROTOCOL_FEATURES:
                    return GetProtocolFeatures();
                case VhostUserRequest.SET_PROTOCOL_FEATURES:
                    return SetProtocolFeatures(message);
                case VhostUserRequest.SET_OWNER:
                    return SetOwner();
                case VhostUserRequest.RESET_OWNER:
                    return ResetOwner();
                case VhostUserRequest.SET_MEM_TABLE:
                    SetMemoryTable(message);
                    return null;
                case VhostUserRequest.SET_VRING_NUM:
                    return SetVringNum(message);
                case VhostUserRequest.SET_VRING_ADDR:
                    SetVringAddress(message);
                    return null;
                case VhostUserRequest.SET_VRING_BASE:
                    return SetVringBase(message);
                case VhostUserRequest.GET_VRING_BASE:
                    return GetVringBase(message);
                case VhostUserRequest.SET_VRING_KICK:
                    return SetVringKick(message);
                case VhostUserRequest.SET_VRING_CALL:
                    return SetVringCall(message);
                case VhostUserRequest.SET_VRING_ERR:
                    return SetVringErr(message);
                case VhostUserRequest.GET_QUEUE_NUM:
                    return GetQueueNum();
                case VhostUserRequest.SET_VRING_ENABLE:
                    return SetVringEnable(message);
                case VhostUserRequest.SET_BACKEND_REQ_FD:
                    return SetBackendReqFd(message);
                case VhostUserRequest.GET_CONFIG:
                    return GetConfig(message);
                case VhostUserRequest.SET_CONFIG:
                    return SetConfig();
                case VhostUserRequest.GET_SHMEM_CONFIG:
                    return GetShmemConfig();
                default:
                    throw new RefusedException($"request {message.Request} is not supported");
            }
        }

        private void ReleaseMemory()
        {
            // Unmapped once the last lease on it is returned: a handler a stop gave up waiting for keeps the
            // memory it still touches, and finds none on its next access.
            _memory?.Dispose();
            _memory = null;
            _table.Release();
            _table = MemoryTableSnapshot.Empty;
        }

        private void Close()
        {
            StopDevice("connection closed");
            try
            {
                _backendTail.Wait(Options.ReplyTimeout);
            }
            catch (AggregateException)
            {
            }
            _backendChannel?.Dispose();
            foreach (var vring in _vrings)
            {
                vring.Kick?.Dispose();
                (vring.Call.Swap(null) as IDisposable)?.Dispose();
            }
            ReleaseMemory();
            _sharedRegion?.Dispose(); // and its file with it (made together), after the last lease
            channel.Dispose();
        }
    }
}
