using System;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace VirtioMedia.Runtime.VhostUser;

public sealed partial class VhostUserBackend
{
    // Requests to the front-end on the back-end channel (SHMEM_MAP), sent off the message loop.
    private sealed partial class Connection
    {
        /// <summary>Queues SHMEM_MAP of the whole region for <paramref name="running"/>; completes when
        /// the front-end acknowledged it (at once when there is nothing to map, or when the device stopped
        /// before the request could be sent). A refusal is logged and the device served all the same: the
        /// region may still be mapped from before a stop that was no reset.</summary>
        private Task MapSharedMemory(DeviceRun running)
        {
            if (_sharedFile is null || _backendChannel is null || _sharedMapped || !Negotiated(VhostUserProtocolFeatures.SHMEM))
            {
                return Task.CompletedTask;
            }
            _sharedMapped = true;
            var request = MmapRequest(0, _sharedFile.Length, VhostUserProtocol.MapReadWrite);
            var map = EnqueueBackendRequest(VhostUserBackendRequest.SHMEM_MAP, request, _sharedFile.Descriptor, running);
            return map.ContinueWith(
                t =>
                {
                    if (t.IsFaulted)
                    {
                        Interlocked.Increment(ref owner._refusedSharedMemoryMaps);
                        Options.Log?.Invoke($"SHMEM_MAP of region 0 refused or unanswered, the guest has no MMAP memory until the next start: {t.Exception?.InnerException?.Message}");
                    }
                },
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        private static byte[] MmapRequest(ulong shmOffset, ulong length, ulong flags)
        {
            var request = new byte[VhostUserProtocol.MmapRequestSize];
            request[0] = 0; // shmid 0, then 7 bytes of padding
            MemoryMarshal.Write(request.AsSpan(8), 0UL); // fd_offset
            MemoryMarshal.Write(request.AsSpan(16), in shmOffset);
            MemoryMarshal.Write(request.AsSpan(24), in length);
            MemoryMarshal.Write(request.AsSpan(32), in flags);
            return request;
        }

        /// <summary>Sends a back-end request after the ones before it, off the message loop, and only
        /// while <paramref name="running"/> has not stopped (checked under its lock, which the stop takes
        /// before it answers the front-end).</summary>
        private Task EnqueueBackendRequest(uint request, byte[] payload, UnixFileDescriptor? fd, DeviceRun running)
        {
            var trace = Options.Trace;
            var channelAtSend = _backendChannel!;
            var ack = Negotiated(VhostUserProtocolFeatures.REPLY_ACK);
            var timeout = Options.ReplyTimeout;
            var previous = _backendTail;
            var next = Task.Run(async () =>
            {
                await previous.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
                var flags = VhostUserProtocol.Version | (ack ? VhostUserProtocol.NeedReplyFlag : 0);
                lock (running)
                {
                    if (running.Stopped)
                    {
                        Options.Log?.Invoke($"back-end request {request} not sent: the device stopped first");
                        return;
                    }
                    // Traced before it is sent: the front-end's reaction (QEMU's next memory table) can
                    // otherwise be traced by the message loop first.
                    trace?.Invoke(VhostUserTrace.Format(VhostUserTrace.BackendChannel, VhostUserTrace.FromBackend, request, flags, payload, fd is null ? 0 : 1));
                    channelAtSend.Send(request, flags, payload, fd is null ? default : [fd]);
                }
                if (!ack)
                {
                    return;
                }
                using var reply = channelAtSend.Receive(timeout) ?? throw new VhostUserProtocolException($"the back-end channel closed before the reply to {request}");
                trace?.Invoke(VhostUserTrace.Format(VhostUserTrace.BackendChannel, VhostUserTrace.FromFrontend, reply.Request, reply.Flags, reply.Payload, reply.FileDescriptorCount));
                if (!reply.IsReply || reply.Request != request || !reply.TryRead<ulong>(0, out var status))
                {
                    throw new VhostUserProtocolException($"back-end request {request}: unexpected reply {reply.Request} of {reply.Payload.Length} bytes");
                }
                if (status != 0)
                {
                    throw new VhostUserProtocolException($"back-end request {request} refused with {status}");
                }
            });
            _backendTail = next;
            return next;
        }
    }
}
