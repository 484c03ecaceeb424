using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;

namespace VirtioMedia.Tests.Runtime;

/// <summary>The driver half of a capture stream, as an application would run it over a <see cref="DriverSession"/>.</summary>
internal static class Streamer
{
    public const uint Width = 64;
    public const uint Height = 48;

    /// <summary>Fails the test instead of hanging when the endpoints deadlock.</summary>
    public static async Task Guard(Func<Task> body, int seconds = 10)
    {
        try
        {
            await body().WaitAsync(TimeSpan.FromSeconds(seconds));
        }
        catch (TimeoutException)
        {
            throw new AssertFailedException($"did not finish within {seconds} s (deadlock or lost completion)");
        }
    }

    /// <summary>Polls <paramref name="condition"/> every millisecond until it holds (run inside <see cref="Guard"/>, which bounds the wait).</summary>
    public static async Task SpinUntil(Func<bool> condition)
    {
        while (!condition())
        {
            await Task.Delay(1);
        }
    }

    /// <summary>ENUM_FMT and S_FMT; returns sizeimage.</summary>
    public static async Task<uint> NegotiateAsync(DriverSession session)
    {
        var first = await session.VIDIOC_ENUM_FMT(new v4l2_fmtdesc { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, index = 0 });
        Assert.AreEqual(0, first.Status);
        Assert.AreEqual(Constants.V4L2_PIX_FMT_GREY, first.Payload.pixelformat);
        var past = await session.VIDIOC_ENUM_FMT(new v4l2_fmtdesc { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, index = 1 });
        Assert.AreEqual(Constants.EINVAL, past.Status);

        var format = new v4l2_format { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE };
        format.fmt.pix.width = Width;
        format.fmt.pix.height = Height;
        format.fmt.pix.pixelformat = Constants.V4L2_PIX_FMT_GREY;
        var set = await session.VIDIOC_S_FMT(format);
        Assert.AreEqual(0, set.Status);
        Assert.AreEqual(Width, set.Payload.fmt.pix.width);
        Assert.AreEqual(Width * Height, set.Payload.fmt.pix.sizeimage);
        return set.Payload.fmt.pix.sizeimage;
    }

    public static async Task<uint> RequestBuffersAsync(DriverSession session, uint memory, uint count)
    {
        var request = await session.VIDIOC_REQBUFS(new v4l2_requestbuffers { type = Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = memory, count = count });
        Assert.AreEqual(0, request.Status);
        Assert.AreEqual(count, request.Payload.count);
        return request.Payload.count;
    }

    /// <summary>
    /// QBUFs every buffer, STREAMON, then dequeues <paramref name="frames"/> frames, checking each frame's bytes
    /// against the pattern of <paramref name="producerId"/>, and requeues; STREAMOFF at the end.
    /// </summary>
    /// <param name="queue">QBUFs buffer i and asserts the answer.</param>
    /// <param name="read">Reads buffer i's frame bytes as the driver sees them.</param>
    public static async Task StreamAsync(DriverSession session, uint producerId, uint buffers, int frames, uint sizeImage,
        Func<uint, Task> queue, Action<uint, byte[]> read)
    {
        for (uint i = 0; i < buffers; i++)
        {
            await queue(i);
        }
        Assert.AreEqual(0, (await session.VIDIOC_STREAMON((int)Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE)).Status);
        var frame = new byte[sizeImage];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (var n = 0; n < frames; n++)
        {
            var done = await session.DequeuedBuffers.ReadAsync(timeout.Token);
            Assert.AreEqual((uint)n, done.Buffer.sequence, "frames arrive in order, none lost");
            Assert.AreEqual(sizeImage, done.Buffer.bytesused);
            Assert.IsTrue(done.Buffer.index < buffers);
            read(done.Buffer.index, frame);
            for (var i = 0; i < frame.Length; i++)
            {
                if (frame[i] != TestCaptureDevice.Pattern(producerId, (uint)n, i))
                {
                    Assert.Fail($"frame {n} byte {i}: 0x{frame[i]:X2}, expected 0x{TestCaptureDevice.Pattern(producerId, (uint)n, i):X2}");
                }
            }
            if (n + buffers < frames)
            {
                await queue(done.Buffer.index);
            }
        }
        Assert.AreEqual(0, (await session.VIDIOC_STREAMOFF((int)Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE)).Status);
    }
}
