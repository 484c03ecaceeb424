using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.VhostUser;
using VirtioMedia.Tests.VhostUser;

namespace VirtioMedia.Tests.Samples;

/// <summary>
/// The sample host's <c>--accept-unsealable-memory</c> as a second process sees it: a raw front-end over the host's
/// socket offers guest memory in a regular file on /dev/shm (which takes no seals); without the option the host
/// refuses the table (a non-zero REPLY_ACK), with it the host accepts it, and either way the connection still serves.
/// </summary>
[TestClass]
[TestCategory("EndToEnd")]
public sealed class HostUnsealableMemoryTests
{
    private const string Host = "VirtioMedia.Samples.Host.dll";

    // vhost-user.rst: front-end request ids, REPLY_ACK (protocol bit 3).
    private const uint SetMemTable = 5, SetProtocolFeatures = 16, GetQueueNum = 17;
    private const ulong ReplyAck = 1UL << 3;
    private const int O_RDWR = 2;

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public async Task Unsealable_guest_memory_is_refused_unless_the_option_is_given(bool option)
    {
        var folder = Directory.CreateTempSubdirectory("vm-unsealable-host-").FullName;
        var directory = Directory.Exists("/dev/shm") ? "/dev/shm" : folder;
        var memoryPath = Path.Combine(directory, "vm-unsealable-" + Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(memoryPath, new byte[1 << 16]);
        try
        {
            var socket = Path.Combine(folder, "camera.sock");
            string[] arguments = option ? ["--socket", socket, "--exit-on-disconnect", "--accept-unsealable-memory"] : ["--socket", socket, "--exit-on-disconnect"];
            using var host = SampleProcess.Start(Host, arguments);
            await host.WaitForOutputAsync("listening on", TimeSpan.FromSeconds(30));
            using (var client = new RawFrontend(VhostUserChannel.Connect(socket)))
            using (var file = new UnixFileDescriptor(Open(memoryPath, O_RDWR)))
            {
                client.Send(SetProtocolFeatures, RawFrontend.Version, RawFrontend.U64(ReplyAck));
                var status = client.CallU64(SetMemTable, RawFrontend.Version | RawFrontend.NeedReply, VhostUserBackendTests.MemoryTable(0, 1 << 16, 0x7000_0000, 0), file);
                if (option)
                {
                    Assert.AreEqual(0UL, status, "accepted with --accept-unsealable-memory");
                }
                else
                {
                    Assert.AreNotEqual(0UL, status, "refused by default");
                }
                Assert.AreEqual(2UL, client.CallU64(GetQueueNum, RawFrontend.Version, []), "the host still serves the connection");
            }
            Assert.AreEqual(0, await host.WaitForExitAsync(TimeSpan.FromSeconds(30)), host.Error);
        }
        finally
        {
            File.Delete(memoryPath);
            Directory.Delete(folder, recursive: true);
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open(string path, int flags);
}
