using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>
/// The back-end applies <see cref="VhostUserRequestDecoder"/> before any request method: a message whose payload
/// size or descriptor count the decoder rejects (vhost-user.rst, "Front-end message types") is refused with the
/// decoder's own status, with a non-zero ack where the front-end waits for one, an empty GET_CONFIG reply
/// ("zero length of payload to indicate an error"), or the connection's end where a reply of its own was due; a
/// well-formed message after the refusals is served.
/// </summary>
[TestClass]
public sealed class VhostUserBackendFramingTests
{
    // vhost-user.rst: front-end request ids, REPLY_ACK (protocol bit 3), the invalid-FD flag (bit 8).
    private const uint SetMemTable = 5, SetVringNum = 8, SetVringAddr = 9, GetVringBase = 11, SetVringKick = 12, SetProtocolFeatures = 16, GetQueueNum = 17, GetConfig = 24;
    private const ulong ReplyAck = 1UL << 3, InvalidFd = 1UL << 8;

    private static (RawFrontend Client, Task Serving, ConcurrentQueue<string> Log) Connect()
    {
        var log = new ConcurrentQueue<string>();
        var backend = new VhostUserBackend(
            new VhostUserBackendOptions
            {
                Config = new byte[40],
                SharedMemorySize = 1 << 20,
                Log = log.Enqueue,
                StopTimeout = TimeSpan.FromSeconds(2),
                ReplyTimeout = TimeSpan.FromSeconds(2),
            },
            (_, token) => Task.Delay(Timeout.Infinite, token).ContinueWith(_ => { }, TaskScheduler.Default));
        var (client, server) = VhostUserChannel.CreatePair();
        var frontend = new RawFrontend(client);
        var serving = backend.ServeConnectionAsync(server, CancellationToken.None);
        frontend.Send(SetProtocolFeatures, RawFrontend.Version, RawFrontend.U64(ReplyAck));
        return (frontend, serving, log);
    }

    private static ulong Ack(RawFrontend client, uint request, byte[] payload, params UnixFileDescriptor[] fds) =>
        client.CallU64(request, RawFrontend.Version | RawFrontend.NeedReply, payload, fds);

    [TestMethod]
    public async Task Messages_the_decoder_rejects_are_refused_with_its_status_and_the_connection_serves_on()
    {
        var (client, serving, log) = Connect();
        using (client)
        using (var kick = new UnixFileDescriptor(EventFdRaw(0, 0)))
        using (var memory = new UnixFileDescriptor(EventFdRaw(0, 0)))
        {
            var cases = new (uint Request, byte[] Payload, UnixFileDescriptor[] Fds, VhostUserDecodeStatus Expected)[]
            {
                (SetVringNum, new byte[4], [], VhostUserDecodeStatus.BadPayloadSize),
                (SetVringAddr, new byte[39], [], VhostUserDecodeStatus.BadPayloadSize),
                (SetVringKick, RawFrontend.U64(InvalidFd), [kick], VhostUserDecodeStatus.BadDescriptorCount),
                (SetVringKick, RawFrontend.U64(0), [], VhostUserDecodeStatus.BadDescriptorCount),
                (SetMemTable, VhostUserBackendTests.MemoryTable(0, 1 << 16, 0x7000_0000, 0), [], VhostUserDecodeStatus.BadDescriptorCount),
                (SetMemTable, VhostUserBackendTests.MemoryTable(0, 1 << 16, 0x7000_0000, 0)[..20], [memory], VhostUserDecodeStatus.BadPayloadSize),
            };
            foreach (var (request, payload, fds, expected) in cases)
            {
                var message = RawFrontend.Message(request, RawFrontend.Version, payload).AsSpan(0);
                Assert.AreEqual(expected, VhostUserRequestDecoder.Decode(message, fds.Length).Status, $"the decoder's verdict on request {request}");
                Assert.AreNotEqual(0UL, Ack(client, request, payload, fds), $"request {request} of {payload.Length} bytes with {fds.Length} descriptors refused");
                Assert.IsTrue(log.Any(line => line.Contains($"request {request} refused: {expected}", StringComparison.Ordinal)),
                    $"refused by the decoder's rule ({expected}); log: {string.Join(" | ", log)}");
            }

            // GET_CONFIG whose size field disagrees with its payload: an empty reply, not the config.
            var config = new byte[12 + 8];
            MemoryMarshal.Write(config.AsSpan(4), 16u);
            Assert.AreEqual(0, client.Call(GetConfig, RawFrontend.Version, config).Length, "an empty GET_CONFIG reply");
            Assert.AreEqual(2UL, client.CallU64(GetQueueNum, RawFrontend.Version, []), "a good message is served after the refusals");

            // GET_VRING_BASE of the wrong size waits for a reply of its own: a refusal cannot be an ack.
            client.Send(GetVringBase, RawFrontend.Version | RawFrontend.NeedReply, new byte[4]);
            Assert.IsTrue(client.Closed(), "the connection ends");
        }
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [DllImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static extern int EventFdRaw(uint initial, int flags);
}
