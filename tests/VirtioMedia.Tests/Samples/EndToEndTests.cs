using System;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace VirtioMedia.Tests.Samples;

/// <summary>
/// The host and the guest samples as two separate processes over a real vhost-user Unix socket: every memory type
/// streams hundreds of frames, each checked byte for byte by the guest against the camera's test pattern across a
/// control change confirmed by its V4L2 event; a host killed mid-stream makes the guest fail promptly; and a guest
/// killed mid-stream leaves the host serving the next one.
/// </summary>
[TestClass]
[TestCategory("EndToEnd")]
public sealed class EndToEndTests
{
    private const string Host = "VirtioMedia.Samples.Host.dll";
    private const string Guest = "VirtioMedia.Samples.Guest.dll";
    private const int Frames = 200;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    private string _folder = "";

    [TestInitialize]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("vm-e2e-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [TestMethod]
    [DataRow("mmap", "YUYV", "1280x720")]
    [DataRow("userptr", "NV12M", "640x480")]
    [DataRow("dmabuf", "RGB24", "640x480")]
    public async Task Streams_verified_frames_with_a_control_change_between_two_processes(string memory, string format, string size)
    {
        var socket = Path.Combine(_folder, "camera.sock");
        // A node offers one capture API: NV12M needs the multi-planar one.
        var api = format == "NV12M" ? "multi-planar" : "single-planar";
        using var host = SampleProcess.Start(Host, "--socket", socket, "--exit-on-disconnect", "--fast", "--api", api);
        await host.WaitForOutputAsync("listening on", StartTimeout);

        var pngFolder = Path.Combine(_folder, "png");
        using var guest = SampleProcess.Start(Guest, "capture", "--socket", socket, "--memory", memory, "--format", format, "--size", size,
            "--frames", Frames.ToString(), "--verify", "--set-control", "brightness=40@90", "--set-control", "hflip=1@120",
            "--png-every", "100", "--out", pngFolder);
        var exit = await guest.WaitForExitAsync(RunTimeout);

        var output = guest.Output;
        Assert.AreEqual(0, exit, $"stdout:\n{output}\nstderr:\n{guest.Error}\nhost stderr:\n{host.Error}");
        StringAssert.Contains(output, $"verified: {Frames} of {Frames} frames match the test pattern byte for byte");
        StringAssert.Contains(output, "control: Brightness = 40 after frame 90, V4L2_EVENT_CTRL after");
        StringAssert.Contains(output, "control: Horizontal Flip = 1 after frame 120, V4L2_EVENT_CTRL after");
        StringAssert.Matches(output, new System.Text.RegularExpressions.Regex($@"summary: {Frames} frames in [0-9.]+ s, [0-9.]+ frames/s, latency median [0-9.]+ ms p99 [0-9.]+ ms, guest CPU [0-9.]+ s"));
        var (width, height) = ParseSize(size);
        foreach (var frame in new[] { 0, 100 })
        {
            AssertPng(Path.Combine(pngFolder, $"frame-{frame:D6}.png"), width, height);
        }

        // The host leaves on its own once the guest is gone (--exit-on-disconnect), and cleanly.
        Assert.AreEqual(0, await host.WaitForExitAsync(TimeSpan.FromSeconds(10)), host.Error);
    }

    [TestMethod]
    public async Task Demo_runs_the_host_as_a_second_process_and_streams()
    {
        using var demo = SampleProcess.Start(Guest, "demo", "--frames", Frames.ToString(), "--size", "640x480", "--png-every", "0");
        var exit = await demo.WaitForExitAsync(RunTimeout);
        Assert.AreEqual(0, exit, $"stdout:\n{demo.Output}\nstderr:\n{demo.Error}");
        StringAssert.Contains(demo.Output, "host: process ");
        StringAssert.Contains(demo.Output, $"verified: {Frames} of {Frames} frames match the test pattern byte for byte");
        StringAssert.Contains(demo.Output, $"control: Brightness = 191 after frame {Frames / 2}, V4L2_EVENT_CTRL after");
        StringAssert.Contains(demo.Output, $"summary: {Frames} frames in ");
    }

    [TestMethod]
    public async Task A_host_killed_mid_stream_makes_the_guest_fail_within_seconds()
    {
        var socket = Path.Combine(_folder, "camera.sock");
        // A paced host (its frame interval), so the stream is surely still running when it dies.
        using var host = SampleProcess.Start(Host, "--socket", socket, "--exit-on-disconnect");
        await host.WaitForOutputAsync("listening on", StartTimeout);
        using var guest = SampleProcess.Start(Guest, "capture", "--socket", socket, "--frames", "1000000", "--size", "320x240", "--png-every", "0");
        await guest.WaitForOutputAsync("buffers: ", StartTimeout);
        await Task.Delay(500);

        host.Kill();
        var killed = Stopwatch.StartNew();
        var exit = await guest.WaitForExitAsync(TimeSpan.FromSeconds(10));
        var reaction = killed.Elapsed;

        Assert.AreEqual(3, exit, $"a device error, not a verification failure or a clean end.\nstdout:\n{guest.Output}\nstderr:\n{guest.Error}");
        StringAssert.Contains(guest.Error, "the host closed the vhost-user connection");
        Assert.IsFalse(guest.Output.Contains("summary:", StringComparison.Ordinal), "no summary for a run that did not finish");
        Assert.IsTrue(reaction < TimeSpan.FromSeconds(4), $"the guest took {reaction.TotalSeconds:F1} s to give up");
    }

    [TestMethod]
    public async Task A_guest_killed_mid_stream_leaves_the_host_serving_the_next_guest()
    {
        var socket = Path.Combine(_folder, "camera.sock");
        // No --exit-on-disconnect: the host must go back to accepting once the first front-end is gone.
        using var host = SampleProcess.Start(Host, "--socket", socket, "--fast");
        await host.WaitForOutputAsync("listening on", StartTimeout);

        using (var first = SampleProcess.Start(Guest, "capture", "--socket", socket, "--frames", "1000000", "--size", "640x480", "--png-every", "0", "--no-progress"))
        {
            await first.WaitForOutputAsync("buffers: ", StartTimeout);
            // Frames are flowing (a fast host): the kill lands with buffers queued and the device writing.
            await Task.Delay(500);
            first.Kill();
            Assert.IsFalse(first.Output.Contains("summary:", StringComparison.Ordinal), "the first guest was meant to die mid-stream");
        }

        using var second = SampleProcess.Start(Guest, "capture", "--socket", socket, "--frames", "100", "--size", "640x480", "--format", "NV12",
            "--verify", "--png-every", "0", "--no-progress");
        var exit = await second.WaitForExitAsync(RunTimeout);
        Assert.AreEqual(0, exit, $"stdout:\n{second.Output}\nstderr:\n{second.Error}\nhost stderr:\n{host.Error}");
        StringAssert.Contains(second.Output, "verified: 100 of 100 frames match the test pattern byte for byte");
        Assert.IsTrue(CountOccurrences(host.Error, "front-end connected") >= 2, $"the host served both guests:\n{host.Error}");

        // Still alive after the second guest left, then stopped like a user would (SIGINT), and cleanly.
        Assert.IsFalse(host.HasExited, $"the host is still serving:\n{host.Error}");
        host.Interrupt();
        Assert.AreEqual(0, await host.WaitForExitAsync(TimeSpan.FromSeconds(10)), host.Error);
        StringAssert.Contains(host.Error, "stopped");
        Assert.IsFalse(File.Exists(socket), "the host removes its socket when it stops");
    }

    private static int CountOccurrences(string text, string value)
    {
        var count = 0;
        for (var at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + value.Length, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }

    [TestMethod]
    public async Task A_socket_nobody_listens_on_is_a_clear_error()
    {
        using var guest = SampleProcess.Start(Guest, "capture", "--socket", Path.Combine(_folder, "nobody.sock"), "--frames", "10");
        Assert.AreEqual(3, await guest.WaitForExitAsync(RunTimeout));
        StringAssert.Contains(guest.Error, "cannot set up the device at");
    }

    private static (int Width, int Height) ParseSize(string size)
    {
        var parts = size.Split('x');
        return (int.Parse(parts[0]), int.Parse(parts[1]));
    }

    /// <summary>The file is a PNG (signature, then IHDR first) of the frame's size, 8-bit RGB.</summary>
    private static void AssertPng(string path, int width, int height)
    {
        Assert.IsTrue(File.Exists(path), $"{path} was not written");
        var bytes = File.ReadAllBytes(path);
        CollectionAssert.AreEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8], "PNG signature");
        Assert.AreEqual("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.AreEqual(width, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.AreEqual(height, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        Assert.AreEqual(8, bytes[24], "bit depth");
        Assert.AreEqual(2, bytes[25], "colour type 2: RGB");
    }
}
