using System;
using System.IO;
using System.Threading.Tasks;
using StbImageWriteSharp;
using VirtioMedia.Abi;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Samples.Guest;

/// <summary>Turns a captured frame into packed 8-bit RGB (BT.601 limited range for the Y'CbCr formats) and writes PNG files.</summary>
internal sealed class FrameImage
{
    private readonly FrameLayout _layout;

    public FrameImage(FrameLayout layout)
    {
        _layout = layout;
    }

    /// <summary>
    /// Converts the frame whose planes <paramref name="planes"/> reads (now: the buffer goes back to the device after
    /// this returns) and writes it to <paramref name="path"/> in the background: PNG compression takes far longer than
    /// a frame, and the stream's figures are the transport's, not the encoder's.
    /// </summary>
    public Task SavePngAsync(string path, Func<int, ReadOnlySpan<byte>> planes)
    {
        var rgb = new byte[_layout.Width * _layout.Height * 3];
        ToRgb(_layout, planes(0), _layout.PlaneCount > 1 ? planes(1) : default, rgb);
        var (width, height) = (_layout.Width, _layout.Height);
        return Task.Run(() =>
        {
            try
            {
                using var file = File.Create(path);
                new ImageWriter().WritePng(rgb, width, height, ColorComponents.RedGreenBlue, file);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                throw new GuestException(ExitCodes.Usage, $"cannot write {path}: {error.Message}", error);
            }
        });
    }

    /// <summary>Converts one frame to packed RGB, row by row.</summary>
    public static void ToRgb(FrameLayout layout, ReadOnlySpan<byte> plane0, ReadOnlySpan<byte> plane1, Span<byte> rgb)
    {
        var width = layout.Width;
        var height = layout.Height;
        var stride = layout.BytesPerLine[0];
        // NV12 keeps its chroma after the luma in the same buffer and stride; NV12M in plane 1 with its own stride.
        var chroma = layout.PixelFormat switch
        {
            Constants.V4L2_PIX_FMT_NV12 => plane0.Slice(stride * height),
            Constants.V4L2_PIX_FMT_NV12M => plane1,
            _ => default,
        };
        var chromaStride = layout.PixelFormat == Constants.V4L2_PIX_FMT_NV12M ? layout.BytesPerLine[1] : stride;
        for (var y = 0; y < height; y++)
        {
            var line = plane0.Slice(y * stride);
            var output = rgb.Slice(y * width * 3, width * 3);
            switch (layout.PixelFormat)
            {
                case Constants.V4L2_PIX_FMT_RGB24:
                    line.Slice(0, width * 3).CopyTo(output);
                    break;
                case Constants.V4L2_PIX_FMT_YUYV:
                    for (var x = 0; x < width; x++)
                    {
                        var pair = (x >> 1) * 4;
                        Put(output, x, line[pair + ((x & 1) << 1)], line[pair + 1], line[pair + 3]);
                    }
                    break;
                default:
                    var chromaLine = chroma.Slice((y >> 1) * chromaStride);
                    for (var x = 0; x < width; x++)
                    {
                        var pair = (x >> 1) * 2;
                        Put(output, x, line[x], chromaLine[pair], chromaLine[pair + 1]);
                    }
                    break;
            }
        }
    }

    private static void Put(Span<byte> output, int x, byte y, byte cb, byte cr)
    {
        var (r, g, b) = TestPattern.YCbCrToRgb(y, cb, cr);
        output[x * 3] = r;
        output[x * 3 + 1] = g;
        output[x * 3 + 2] = b;
    }
}
