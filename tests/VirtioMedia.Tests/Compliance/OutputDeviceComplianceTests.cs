using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Compliance;
using VirtioMedia.Compliance.Reporting;
using VirtioMedia.Compliance.Targets;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Tests.Compliance;

/// <summary>
/// The suite on an output node (single-planar VIDEO_OUTPUT, YUYV 640x480, one output, buffers consumed as soon as they
/// are queued while streaming), built on the runtime's <see cref="BufferQueue"/>: the output side of every group runs.
/// </summary>
[TestClass]
public sealed class OutputDeviceComplianceTests
{
    private const uint Output = Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT;
    private const uint SizeImage = 640 * 480 * 2;

    private sealed class TinyOutput(BufferQueue queue, DeviceSession session, DeviceEndpoint endpoint, Func<uint> nextSequence)
        : V4l2DeviceHandler<DeviceIoctlContext>, IDisposable
    {
        public override int VIDIOC_ENUMOUTPUT(DeviceIoctlContext context, ref v4l2_output payload)
        {
            if (payload.index != 0)
            {
                return Constants.EINVAL;
            }
            payload = new v4l2_output { index = 0, type = Constants.V4L2_OUTPUT_TYPE_ANALOG };
            "Output 0"u8.CopyTo(payload.name);
            return 0;
        }

        public override int VIDIOC_G_OUTPUT(DeviceIoctlContext context, ref int payload)
        {
            payload = 0;
            return 0;
        }

        public override int VIDIOC_S_OUTPUT(DeviceIoctlContext context, ref int payload) => payload == 0 ? 0 : Constants.EINVAL;

        public override int VIDIOC_ENUM_FMT(DeviceIoctlContext context, ref v4l2_fmtdesc payload)
        {
            if (payload.type != Output || payload.index != 0)
            {
                return Constants.EINVAL;
            }
            payload = new v4l2_fmtdesc { type = Output, pixelformat = Constants.V4L2_PIX_FMT_YUYV };
            "YUYV 4:2:2"u8.CopyTo(payload.description);
            return 0;
        }

        public override int VIDIOC_ENUM_FRAMESIZES(DeviceIoctlContext context, ref v4l2_frmsizeenum payload)
        {
            if (payload.pixel_format != Constants.V4L2_PIX_FMT_YUYV || payload.index != 0)
            {
                return Constants.EINVAL;
            }
            payload.type = Constants.V4L2_FRMSIZE_TYPE_DISCRETE;
            (payload.discrete.width, payload.discrete.height) = (640, 480);
            return 0;
        }

        public override int VIDIOC_G_FMT(DeviceIoctlContext context, ref v4l2_format payload) => Fill(ref payload);

        public override int VIDIOC_TRY_FMT(DeviceIoctlContext context, ref v4l2_format payload) => Fill(ref payload);

        public override int VIDIOC_S_FMT(DeviceIoctlContext context, ref v4l2_format payload)
        {
            lock (queue)
            {
                return queue.IsBusy(session) ? Constants.EBUSY : Fill(ref payload);
            }
        }

        private static int Fill(ref v4l2_format payload)
        {
            if (payload.type != Output)
            {
                return Constants.EINVAL;
            }
            payload.fmt = default;
            ref var pix = ref payload.fmt.pix;
            (pix.width, pix.height, pix.pixelformat, pix.field, pix.bytesperline, pix.sizeimage, pix.colorspace) =
                (640, 480, Constants.V4L2_PIX_FMT_YUYV, Constants.V4L2_FIELD_NONE, 1280, SizeImage, Constants.V4L2_COLORSPACE_SRGB);
            return 0;
        }

        public override int VIDIOC_REQBUFS(DeviceIoctlContext context, ref v4l2_requestbuffers payload)
        {
            lock (queue)
            {
                return queue.RequestBuffers(context, ref payload, [SizeImage]);
            }
        }

        public override int VIDIOC_CREATE_BUFS(DeviceIoctlContext context, ref v4l2_create_buffers payload)
        {
            lock (queue)
            {
                if (payload.count > 0 && payload.format.fmt.pix.sizeimage < SizeImage)
                {
                    return Constants.EINVAL;
                }
                return queue.CreateBuffers(context, ref payload, [SizeImage]);
            }
        }

        public override int VIDIOC_QUERYBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
        {
            lock (queue)
            {
                return queue.QueryBuffer(context, ref payload);
            }
        }

        public override int VIDIOC_QBUF(DeviceIoctlContext context, ref v4l2_buffer payload)
        {
            lock (queue)
            {
                var status = queue.QueueBuffer(context, ref payload);
                Consume();
                return status;
            }
        }

        public override int VIDIOC_EXPBUF(DeviceIoctlContext context, ref v4l2_exportbuffer payload)
        {
            lock (queue)
            {
                var status = queue.ExportBuffer(context, ref payload, out var uuid);
                if (status == 0)
                {
                    context.SetUuid(0, uuid);
                }
                return status;
            }
        }

        public override int VIDIOC_STREAMON(DeviceIoctlContext context, ref int payload)
        {
            lock (queue)
            {
                var status = queue.StreamOn(context, (uint)payload);
                Consume();
                return status;
            }
        }

        public override int VIDIOC_STREAMOFF(DeviceIoctlContext context, ref int payload)
        {
            lock (queue)
            {
                return queue.StreamOff(context, (uint)payload);
            }
        }

        // An output device "displays" a buffer at once: it is returned with what the driver said it used.
        private void Consume()
        {
            while (queue.TryTakeNext(out var buffer))
            {
                queue.Complete(buffer, nextSequence(), [SizeImage]);
            }
        }

        public void Dispose()
        {
            lock (queue)
            {
                queue.Release(session, endpoint.Mmap);
            }
        }
    }

    /// <summary>The tiny output node; <paramref name="wrap"/>, when given, wraps each session's handler (a test device
    /// that changes some of its answers).</summary>
    internal static ComplianceTarget Target(Func<V4l2DeviceHandler<DeviceIoctlContext>, V4l2DeviceHandler<DeviceIoctlContext>>? wrap = null)
    {
        var config = ConfigSpace.Create(Constants.V4L2_CAP_VIDEO_OUTPUT | Constants.V4L2_CAP_STREAMING, 0, "tiny output");
        return ComplianceTarget.InProcess(transport =>
        {
            var queue = new BufferQueue(Output, MemoryTypes.All);
            uint sequence = 0;
            DeviceEndpoint? endpoint = null;
            endpoint = new DeviceEndpoint(transport, config, session =>
            {
                var handler = new TinyOutput(queue, session, endpoint!, () => sequence++);
                return wrap is null ? handler : wrap(handler);
            });
            return endpoint;
        });
    }

    [TestMethod]
    public async Task An_output_node_passes_with_its_output_tests_run()
    {
        var report = await VirtioMedia.Compliance.MSTest.ComplianceAssert.PassesAsync(Target());
        Assert.AreEqual(ComplianceStatus.Ok, report["test VIDIOC_G/S/ENUMOUTPUT"].Status);
        Assert.AreEqual(ComplianceStatus.NotSupported, report["test VIDIOC_G/S/ENUMINPUT"].Status);
        foreach (var name in new[] { "test VIDIOC_G_FMT", "test VIDIOC_S_FMT", "test VIDIOC_REQBUFS/CREATE_BUFS/QUERYBUF", "test MMAP (no poll)", "test USERPTR (no poll)", "test DMABUF (no poll)" })
        {
            Assert.AreEqual(ComplianceStatus.Ok, report[name].Status, name);
        }
    }
}
