using System;
using System.Buffers.Binary;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;
using VirtioMedia.Tests.Abi;

namespace VirtioMedia.Tests.Generator;

/// <summary>
/// The generated typed surfaces of the ioctls: the device handler's dispatch and the driver's typed calls. Byte
/// offsets and errno values are checked against gcc over the same headers, not taken from the generated code.
/// </summary>
[TestClass]
public sealed class TypedSurfaceTests
{
    // Offsets in the C layouts that the tests read and write through raw bytes (checked by gcc below).
    private const int FormatPixWidth = 8;
    private const int FormatPixHeight = 12;
    private const int RequestBuffersMemory = 8;
    private const int RequestBuffersCapabilities = 12;
    private const int CapabilityCapabilities = 84;

    [TestMethod]
    public void Byte_offsets_and_errno_values_used_here_are_the_C_ones()
    {
        var asserts = new StaticAsserts();
        asserts.Equal("__builtin_offsetof(struct v4l2_format, fmt.pix.width)", FormatPixWidth, "v4l2_format.fmt.pix.width");
        asserts.Equal("__builtin_offsetof(struct v4l2_format, fmt.pix.height)", FormatPixHeight, "v4l2_format.fmt.pix.height");
        asserts.Equal("__builtin_offsetof(struct v4l2_requestbuffers, memory)", RequestBuffersMemory, "v4l2_requestbuffers.memory");
        asserts.Equal("__builtin_offsetof(struct v4l2_requestbuffers, capabilities)", RequestBuffersCapabilities, "v4l2_requestbuffers.capabilities");
        asserts.Equal("__builtin_offsetof(struct v4l2_capability, capabilities)", CapabilityCapabilities, "v4l2_capability.capabilities");
        // The runtime's names for the statuses it sends are the kernel's values.
        foreach (var field in typeof(Errno).GetFields())
        {
            asserts.Equal(field.Name, (int)field.GetRawConstantValue()!, "Errno." + field.Name);
        }
        Gcc.AssertCompiles("typed-surfaces.c", asserts.ToString());
    }

    [TestMethod]
    public void Overridden_ioctls_get_the_payload_by_reference()
    {
        var handler = new TwoIoctlHandler();
        var context = new object();

        var format = new byte[Ioctls.VIDIOC_S_FMT.Descriptor.PayloadSize];
        handler.FormatBytes = format;
        BinaryPrimitives.WriteUInt32LittleEndian(format, 1); // V4L2_BUF_TYPE_VIDEO_CAPTURE
        BinaryPrimitives.WriteUInt32LittleEndian(format.AsSpan(FormatPixWidth), 1920);
        var status = handler.Dispatch(context, Ioctls.VIDIOC_S_FMT.Descriptor, format);

        Assert.AreEqual(0, status);
        Assert.AreSame(context, handler.LastContext);
        Assert.AreEqual(1u, handler.SeenFormatType);
        Assert.AreEqual(1920u, handler.SeenWidth);
        Assert.IsTrue(handler.PayloadWasTheSpan, "the method got a reference into the dispatched bytes, not a copy");
        Assert.AreEqual(640u, BinaryPrimitives.ReadUInt32LittleEndian(format.AsSpan(FormatPixWidth)), "the method's write is in the bytes");
        Assert.AreEqual(480u, BinaryPrimitives.ReadUInt32LittleEndian(format.AsSpan(FormatPixHeight)));

        var request = new byte[Ioctls.VIDIOC_REQBUFS.Descriptor.PayloadSize];
        BinaryPrimitives.WriteUInt32LittleEndian(request, 32); // count
        BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(RequestBuffersMemory), 1); // V4L2_MEMORY_MMAP
        status = handler.Dispatch(context, Ioctls.VIDIOC_REQBUFS.Descriptor, request);

        Assert.AreEqual(0, status);
        Assert.AreEqual(4u, BinaryPrimitives.ReadUInt32LittleEndian(request), "count clamped in place");
        Assert.AreEqual(1u, BinaryPrimitives.ReadUInt32LittleEndian(request.AsSpan(RequestBuffersCapabilities)), "capabilities written in place");
        Assert.AreEqual(2, handler.Calls);
    }

    [TestMethod]
    public void Every_other_ioctl_answers_ENOTTY()
    {
        var handler = new TwoIoctlHandler();
        var others = Ioctls.All.Where(i => i != Ioctls.VIDIOC_S_FMT.Descriptor && i != Ioctls.VIDIOC_REQBUFS.Descriptor).ToList();
        Assert.AreEqual(Ioctls.All.Count - 2, others.Count);
        Assert.IsTrue(others.Any(i => i.Direction == IoctlDirection.None), "an _IO ioctl is among them");
        foreach (var ioctl in others)
        {
            var payload = new byte[ioctl.PayloadSize];
            Assert.AreEqual(Errno.ENOTTY, handler.Dispatch(new object(), ioctl, payload), ioctl.Name);
        }
        Assert.AreEqual(0, handler.Calls);

        // Requests the headers do not define: an unused number, and a known number with another payload size.
        var unknown = new IoctlDescriptor("UNKNOWN", 0xC00456F0, 0xF0, IoctlDirection.ReadWrite, 4, "int", typeof(int));
        Assert.AreEqual(Errno.ENOTTY, handler.Dispatch(new object(), unknown, new byte[4]));
        var sFmt = Ioctls.VIDIOC_S_FMT.Descriptor;
        var resized = sFmt with { Request = sFmt.Request + (1UL << 16), PayloadSize = sFmt.PayloadSize + 1 };
        Assert.AreEqual(Errno.ENOTTY, handler.Dispatch(new object(), resized, new byte[resized.PayloadSize]));
        Assert.AreEqual(0, handler.Calls);
    }

    [TestMethod]
    public void A_payload_of_the_wrong_length_answers_EINVAL()
    {
        var handler = new TwoIoctlHandler();
        foreach (var ioctl in new[] { Ioctls.VIDIOC_S_FMT.Descriptor, Ioctls.VIDIOC_REQBUFS.Descriptor })
        {
            foreach (var length in new[] { 0, ioctl.PayloadSize - 1, ioctl.PayloadSize + 1 })
            {
                Assert.AreEqual(Errno.EINVAL, handler.Dispatch(new object(), ioctl, new byte[length]), $"{ioctl.Name}, {length} bytes");
            }
        }
        Assert.AreEqual(0, handler.Calls, "no method sees a payload of the wrong size");

        var logStatus = new LogStatusHandler();
        Assert.AreEqual(Errno.EINVAL, logStatus.Dispatch(0, Ioctls.VIDIOC_LOG_STATUS.Descriptor, new byte[1]));
        Assert.AreEqual(0, logStatus.Calls);
        Assert.AreEqual(0, logStatus.Dispatch(0, Ioctls.VIDIOC_LOG_STATUS.Descriptor, Span<byte>.Empty), "_IO with no payload");
        Assert.AreEqual(1, logStatus.Calls);
    }

    [TestMethod]
    public async Task Typed_calls_round_trip_payloads_statuses_and_extras()
    {
        var invoker = new FakeInvoker();
        var extras = new IoctlExtras { Elements = new byte[64], Uuids = new byte[16] };

        // _IOWR: the payload goes out, the device's version comes back.
        invoker.Answer = (ioctl, payload) =>
        {
            Assert.AreEqual(1u, BinaryPrimitives.ReadUInt32LittleEndian(payload.Span), "type went out");
            Assert.AreEqual(1920u, BinaryPrimitives.ReadUInt32LittleEndian(payload.Span.Slice(FormatPixWidth)), "width went out");
            BinaryPrimitives.WriteUInt32LittleEndian(payload.Span.Slice(FormatPixWidth), 640);
            return 0;
        };
        var format = new v4l2_format { type = 1 };
        format.fmt.pix.width = 1920;
        var formatResult = await invoker.VIDIOC_S_FMT(format, extras);
        Assert.IsTrue(formatResult.IsSuccess);
        Assert.AreEqual(640u, formatResult.Payload.fmt.pix.width);
        Assert.AreEqual(1u, formatResult.Payload.type);
        Assert.AreSame(Ioctls.VIDIOC_S_FMT.Descriptor, invoker.LastIoctl);
        Assert.AreEqual(Ioctls.VIDIOC_S_FMT.Descriptor.PayloadSize, invoker.LastPayloadLength);
        Assert.AreSame(extras, invoker.LastExtras, "extras passed through");

        // _IOR: the device fills the payload.
        invoker.Answer = (ioctl, payload) =>
        {
            BinaryPrimitives.WriteUInt32LittleEndian(payload.Span.Slice(CapabilityCapabilities), 0x04000001);
            return 0;
        };
        var capability = await invoker.VIDIOC_QUERYCAP(default);
        Assert.AreEqual(0x04000001u, capability.Payload.capabilities);
        Assert.IsNull(invoker.LastExtras);

        // _IOW with an error status: the status comes back, the payload as sent.
        invoker.Answer = (ioctl, payload) =>
        {
            Assert.AreEqual(9, BinaryPrimitives.ReadInt32LittleEndian(payload.Span));
            return Errno.EINVAL;
        };
        var streamOn = await invoker.VIDIOC_STREAMON(9);
        Assert.AreEqual(new IoctlResult<int>(Errno.EINVAL, 9), streamOn);
        Assert.IsFalse(streamOn.IsSuccess);

        // _IO: no payload at all.
        invoker.Answer = (ioctl, payload) => Constants.EIO;
        Assert.AreEqual(Constants.EIO, await invoker.VIDIOC_LOG_STATUS(extras));
        Assert.AreSame(Ioctls.VIDIOC_LOG_STATUS.Descriptor, invoker.LastIoctl);
        Assert.AreEqual(0, invoker.LastPayloadLength);
        Assert.AreSame(extras, invoker.LastExtras);
    }

    [TestMethod]
    public async Task Typed_calls_complete_when_the_invoker_completes_later()
    {
        var invoker = new FakeInvoker { CompleteAsynchronously = true };
        invoker.Answer = (ioctl, payload) =>
        {
            BinaryPrimitives.WriteUInt32LittleEndian(payload.Span, 3);
            return 0;
        };
        for (var i = 0; i < 3; i++)
        {
            var result = await invoker.VIDIOC_REQBUFS(new v4l2_requestbuffers { count = 8, memory = 1 });
            Assert.AreEqual(new IoctlResult<v4l2_requestbuffers>(0, new v4l2_requestbuffers { count = 3, memory = 1 }), result);
        }
    }

    [TestMethod]
    public void Typed_calls_allocate_nothing_in_steady_state()
    {
        var invoker = new FakeInvoker { Answer = static (ioctl, payload) => 0 };
        var extras = new IoctlExtras();
        var format = new v4l2_format { type = 1 };
        var buffer = new v4l2_buffer { index = 2 };

        void Calls()
        {
            Assert.IsTrue(invoker.VIDIOC_S_FMT(format, extras).Result.IsSuccess);
            Assert.IsTrue(invoker.VIDIOC_QBUF(buffer).Result.IsSuccess);
            Assert.AreEqual(0, invoker.VIDIOC_STREAMON(1).Result.Status);
            Assert.AreEqual(0, invoker.VIDIOC_LOG_STATUS().Result);
        }

        for (var i = 0; i < 100; i++)
        {
            Calls();
        }
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            Calls();
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.AreEqual(0L, allocated, $"{allocated} bytes over 4000 calls");
        Assert.AreEqual(4400, invoker.Calls);
    }

    /// <summary>Overrides VIDIOC_S_FMT and VIDIOC_REQBUFS only.</summary>
    private sealed class TwoIoctlHandler : V4l2DeviceHandler<object>
    {
        public int Calls { get; private set; }

        public object? LastContext { get; private set; }

        public uint SeenFormatType { get; private set; }

        public uint SeenWidth { get; private set; }

        public bool PayloadWasTheSpan { get; private set; }

        public byte[]? FormatBytes { get; set; }

        public override int VIDIOC_S_FMT(object context, ref v4l2_format payload)
        {
            Calls++;
            LastContext = context;
            SeenFormatType = payload.type;
            SeenWidth = payload.fmt.pix.width;
            payload.fmt.pix.width = 640;
            payload.fmt.pix.height = 480;
            PayloadWasTheSpan = FormatBytes is not null && Unsafe.AreSame(ref Unsafe.As<v4l2_format, byte>(ref payload), ref FormatBytes[0]);
            return 0;
        }

        public override int VIDIOC_REQBUFS(object context, ref v4l2_requestbuffers payload)
        {
            Calls++;
            payload.count = Math.Min(payload.count, 4);
            payload.capabilities = 1; // V4L2_BUF_CAP_SUPPORTS_MMAP
            return 0;
        }
    }

    /// <summary>Overrides the _IO ioctl VIDIOC_LOG_STATUS only.</summary>
    private sealed class LogStatusHandler : V4l2DeviceHandler<int>
    {
        public int Calls { get; private set; }

        public override int VIDIOC_LOG_STATUS(int context)
        {
            Calls++;
            return 0;
        }
    }

    /// <summary>An invoker that answers every ioctl with <see cref="Answer"/>, by default synchronously and without allocating.</summary>
    private sealed class FakeInvoker : IIoctlInvoker
    {
        public Func<IoctlDescriptor, Memory<byte>, int> Answer { get; set; } = static (ioctl, payload) => Errno.ENOTTY;

        public bool CompleteAsynchronously { get; init; }

        public int Calls { get; private set; }

        public IoctlDescriptor? LastIoctl { get; private set; }

        public int LastPayloadLength { get; private set; }

        public IoctlExtras? LastExtras { get; private set; }

        public ValueTask<int> InvokeAsync(IoctlDescriptor ioctl, Memory<byte> payload, IoctlExtras? extras, CancellationToken cancellationToken)
        {
            Calls++;
            LastIoctl = ioctl;
            LastPayloadLength = payload.Length;
            LastExtras = extras;
            return CompleteAsynchronously ? Later(ioctl, payload) : new ValueTask<int>(Answer(ioctl, payload));
        }

        private async ValueTask<int> Later(IoctlDescriptor ioctl, Memory<byte> payload)
        {
            await Task.Yield();
            return Answer(ioctl, payload);
        }
    }
}
