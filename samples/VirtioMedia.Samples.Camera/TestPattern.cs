using System;
using System.Runtime.CompilerServices;
using VirtioMedia.Abi;

namespace VirtioMedia.Samples.Camera;

/// <summary>
/// The camera's moving test pattern: eight 75% colour bars that scroll left with the frame index, and the frame
/// number in a box near the top-left corner (a 3x5 pixel font, scaled with the height, at least six digits).
/// Picture controls are applied to the palette in Y'CbCr (BT.601, limited range); flips mirror the whole picture.
/// Chroma is sampled, not averaged: a chroma sample takes the colour of the top-left pixel of the pixels it covers
/// in the output. RGB24 is converted from the adjusted Y'CbCr. Bytes past a line's pixels (stride padding) are zero.
/// All arithmetic is integer, so the output is identical on every machine.
/// </summary>
public static class TestPattern
{
    /// <summary>The largest width or height <see cref="Render"/> accepts.</summary>
    public const int MaxDimension = 16384;

    /// <summary>The colour bars, left to right, in 8-bit R'G'B' (75% amplitude, as broadcast bars).</summary>
    public static ReadOnlySpan<byte> BarColours =>
    [
        191, 191, 191, // white
        191, 191, 0,   // yellow
        0, 191, 191,   // cyan
        0, 191, 0,     // green
        191, 0, 191,   // magenta
        191, 0, 0,     // red
        0, 0, 191,     // blue
        0, 0, 0,       // black
    ];

    /// <summary>The number of bars across the picture.</summary>
    public const int BarCount = 8;

    /// <summary>The smallest number of digits the counter shows (zero-padded).</summary>
    public const int MinCounterDigits = 6;

    private const int CounterBackground = BarCount;
    private const int CounterForeground = BarCount + 1;
    private const int PaletteSize = BarCount + 2;
    private const int GlyphWidth = 3;
    private const int GlyphHeight = 5;

    // Glyph rows, top to bottom, three bits each with the leftmost pixel in bit 2.
    private static ReadOnlySpan<byte> Font =>
    [
        0b111, 0b101, 0b101, 0b101, 0b111, // 0
        0b010, 0b110, 0b010, 0b010, 0b111, // 1
        0b111, 0b001, 0b111, 0b100, 0b111, // 2
        0b111, 0b001, 0b111, 0b001, 0b111, // 3
        0b101, 0b101, 0b111, 0b001, 0b001, // 4
        0b111, 0b100, 0b111, 0b001, 0b111, // 5
        0b111, 0b100, 0b111, 0b101, 0b111, // 6
        0b111, 0b001, 0b001, 0b001, 0b001, // 7
        0b111, 0b101, 0b111, 0b101, 0b111, // 8
        0b111, 0b101, 0b111, 0b001, 0b111, // 9
    ];

    [ThreadStatic]
    private static Scratch? t_scratch;

    /// <summary>
    /// Renders frame <paramref name="frame"/> of the moving pattern for <paramref name="pixelformat"/> into its
    /// planes: one span for YUYV, RGB24 and single-planar NV12 (luma rows then chroma rows, same stride), two for
    /// NV12M (luma, then interleaved chroma). Lines are <paramref name="bytesPerLine"/>[plane] apart. Same inputs,
    /// same bytes.
    /// </summary>
    /// <exception cref="ArgumentException">Unsupported format, size out of range, strides or planes too small.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A control outside its range, or a negative frame index.</exception>
    public static void Render(uint pixelformat, int width, int height, ReadOnlySpan<int> bytesPerLine,
                              long frame, in PatternControls controls, Span<byte> plane0, Span<byte> plane1)
    {
        if (!CameraFormats.IsSupported(pixelformat))
        {
            throw new ArgumentException($"pixel format 0x{pixelformat:X8} is not supported", nameof(pixelformat));
        }
        if (width is < 1 or > MaxDimension || height is < 1 or > MaxDimension)
        {
            throw new ArgumentException($"frame size {width}x{height} is outside 1..{MaxDimension}");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(frame);
        controls.Validate();
        var planes = CameraFormats.PlaneCount(pixelformat);
        if (bytesPerLine.Length < planes)
        {
            throw new ArgumentException($"the format has {planes} planes, {bytesPerLine.Length} strides given", nameof(bytesPerLine));
        }
        for (var plane = 0; plane < planes; plane++)
        {
            var stride = bytesPerLine[plane];
            if (stride < CameraFormats.MinBytesPerLine(pixelformat, width, plane) || stride > MaxDimension * 4)
            {
                throw new ArgumentException($"bytesperline {stride} of plane {plane} does not fit {width} pixels", nameof(bytesPerLine));
            }
            var needed = CameraFormats.PlaneSize(pixelformat, height, stride, plane);
            if ((plane == 0 ? plane0.Length : plane1.Length) < needed)
            {
                throw new ArgumentException($"plane {plane} holds {(plane == 0 ? plane0.Length : plane1.Length)} bytes, the frame needs {needed}");
            }
        }

        var scratch = t_scratch ??= new Scratch();
        scratch.Prepare(width);
        var palette = new Palette();
        palette.Build(controls);
        var layout = new Layout(width, height, frame);

        // Every row outside the counter box is the same bar row: convert it once and copy it.
        var barClasses = scratch.Classes.AsSpan(0, width);
        layout.FillBars(barClasses, controls.HorizontalFlip, scratch.Source.AsSpan(0, width));

        switch (pixelformat)
        {
            case Constants.V4L2_PIX_FMT_YUYV:
            case Constants.V4L2_PIX_FMT_RGB24:
            {
                var kind = pixelformat == Constants.V4L2_PIX_FMT_YUYV ? RowKind.Yuyv : RowKind.Rgb24;
                RenderPlane(kind, width, height, 1, bytesPerLine[0], plane0, in palette, in layout, in controls, scratch);
                break;
            }
            case Constants.V4L2_PIX_FMT_NV12:
            {
                var lumaBytes = bytesPerLine[0] * height;
                RenderPlane(RowKind.Luma, width, height, 1, bytesPerLine[0], plane0.Slice(0, lumaBytes), in palette, in layout, in controls, scratch);
                RenderPlane(RowKind.Chroma, width, (height + 1) / 2, 2, bytesPerLine[0], plane0.Slice(lumaBytes), in palette, in layout, in controls, scratch);
                break;
            }
            default:
                RenderPlane(RowKind.Luma, width, height, 1, bytesPerLine[0], plane0, in palette, in layout, in controls, scratch);
                RenderPlane(RowKind.Chroma, width, (height + 1) / 2, 2, bytesPerLine[1], plane1, in palette, in layout, in controls, scratch);
                break;
        }
    }

    /// <summary>The Y'CbCr (BT.601 limited range) of an R'G'B' colour, as the pattern's palette computes it.</summary>
    public static (byte Y, byte Cb, byte Cr) RgbToYCbCr(byte r, byte g, byte b) =>
        ((byte)(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16),
         (byte)(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128),
         (byte)(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128));

    /// <summary>The R'G'B' of a Y'CbCr colour (BT.601 limited range), as RGB24 frames carry it.</summary>
    public static (byte R, byte G, byte B) YCbCrToRgb(byte y, byte cb, byte cr)
    {
        var c = y - 16;
        var d = cb - 128;
        var e = cr - 128;
        return (Clamp((298 * c + 409 * e + 128) >> 8), Clamp((298 * c - 100 * d - 208 * e + 128) >> 8), Clamp((298 * c + 516 * d + 128) >> 8));
    }

    private static byte Clamp(int value) => (byte)Math.Clamp(value, 0, 255);

    private enum RowKind
    {
        Yuyv,
        Rgb24,
        Luma,
        Chroma,
    }

    private static void RenderPlane(RowKind kind, int width, int rows, int rowStep, int stride, Span<byte> plane,
                                    in Palette palette, in Layout layout, in PatternControls controls, Scratch scratch)
    {
        var rowBytes = kind switch
        {
            RowKind.Yuyv => (width + 1) / 2 * 4,
            RowKind.Rgb24 => width * 3,
            RowKind.Luma => width,
            _ => (width + 1) / 2 * 2,
        };
        var template = scratch.Template.AsSpan(0, rowBytes);
        ConvertRow(kind, scratch.Classes.AsSpan(0, width), template, in palette);
        var classes = scratch.Counter.AsSpan(0, width);
        var source = scratch.Source.AsSpan(0, width);
        for (var row = 0; row < rows; row++)
        {
            var line = plane.Slice(row * stride, stride);
            // Chroma row n covers output rows 2n and 2n+1 and takes its colour from row 2n.
            var outputY = row * rowStep;
            var sourceY = controls.VerticalFlip ? layout.Height - 1 - outputY : outputY;
            if (layout.InCounter(sourceY))
            {
                layout.FillCounterRow(classes, source, sourceY, controls.HorizontalFlip, scratch.Classes.AsSpan(0, width));
                ConvertRow(kind, classes, line.Slice(0, rowBytes), in palette);
            }
            else
            {
                template.CopyTo(line);
            }
            line.Slice(rowBytes).Clear();
        }
    }

    private static void ConvertRow(RowKind kind, ReadOnlySpan<byte> classes, Span<byte> destination, in Palette palette)
    {
        ReadOnlySpan<byte> y = palette.Y;
        ReadOnlySpan<byte> cb = palette.Cb;
        ReadOnlySpan<byte> cr = palette.Cr;
        var width = classes.Length;
        switch (kind)
        {
            case RowKind.Luma:
                for (var x = 0; x < width; x++)
                {
                    destination[x] = y[classes[x]];
                }
                break;
            case RowKind.Chroma:
                for (int x = 0, o = 0; x < width; x += 2, o += 2)
                {
                    var c = classes[x];
                    destination[o] = cb[c];
                    destination[o + 1] = cr[c];
                }
                break;
            case RowKind.Yuyv:
                for (int x = 0, o = 0; x < width; x += 2, o += 4)
                {
                    var first = classes[x];
                    var second = x + 1 < width ? classes[x + 1] : first;
                    destination[o] = y[first];
                    destination[o + 1] = cb[first];
                    destination[o + 2] = y[second];
                    destination[o + 3] = cr[first];
                }
                break;
            default:
                ReadOnlySpan<byte> r = palette.R;
                ReadOnlySpan<byte> g = palette.G;
                ReadOnlySpan<byte> b = palette.B;
                for (int x = 0, o = 0; x < width; x++, o += 3)
                {
                    var c = classes[x];
                    destination[o] = r[c];
                    destination[o + 1] = g[c];
                    destination[o + 2] = b[c];
                }
                break;
        }
    }

    /// <summary>The colours of one frame: the bars and the counter's two colours, after the picture controls.</summary>
    private struct Palette
    {
        public Channel Y;
        public Channel Cb;
        public Channel Cr;
        public Channel R;
        public Channel G;
        public Channel B;

        public void Build(in PatternControls controls)
        {
            // Hue as Q12 fixed point: rounding the sine to 1/4096 hides any last-bit difference between math libraries.
            var radians = controls.Hue * Math.PI / 180;
            var cos = (int)Math.Round(Math.Cos(radians) * 4096, MidpointRounding.AwayFromZero);
            var sin = (int)Math.Round(Math.Sin(radians) * 4096, MidpointRounding.AwayFromZero);
            ReadOnlySpan<byte> bars = BarColours;
            for (var i = 0; i < PaletteSize; i++)
            {
                var (r, g, b) = i switch
                {
                    CounterBackground => ((byte)0, (byte)0, (byte)0),
                    CounterForeground => ((byte)255, (byte)255, (byte)255),
                    _ => (bars[i * 3], bars[i * 3 + 1], bars[i * 3 + 2]),
                };
                var (y0, cb0, cr0) = RgbToYCbCr(r, g, b);
                var luma = 16 + DivideRounded((y0 - 16) * controls.Contrast, 7) + controls.Brightness - PatternControls.LevelDefault;
                var u = cb0 - 128;
                var v = cr0 - 128;
                var u1 = (u * cos - v * sin) * controls.Saturation;
                var v1 = (u * sin + v * cos) * controls.Saturation;
                var yByte = Clamp(luma);
                var cbByte = Clamp(128 + DivideRounded(u1, 19));
                var crByte = Clamp(128 + DivideRounded(v1, 19));
                Y[i] = yByte;
                Cb[i] = cbByte;
                Cr[i] = crByte;
                (R[i], G[i], B[i]) = YCbCrToRgb(yByte, cbByte, crByte);
            }
        }

        /// <summary>value / 2^shift, rounded half away from zero (symmetric, so hue rotations stay balanced).</summary>
        private static int DivideRounded(int value, int shift)
        {
            var half = 1 << (shift - 1);
            return value >= 0 ? (value + half) >> shift : -((-value + half) >> shift);
        }
    }

    /// <summary>One byte per palette entry.</summary>
    [InlineArray(PaletteSize)]
    private struct Channel
    {
        private byte _element;
    }

    /// <summary>Where things are in the source (unflipped) picture of one frame.</summary>
    private readonly struct Layout
    {
        public Layout(int width, int height, long frame)
        {
            Width = width;
            Height = height;
            var step = Math.Max(1, width / 160) * 2;
            Shift = (int)(frame % width * step % width);
            Frame = frame;
            var digits = 1;
            for (var rest = frame / 10; rest > 0; rest /= 10)
            {
                digits++;
            }
            Digits = Math.Max(MinCounterDigits, digits);
            Scale = Math.Max(1, height / 90);
            BoxX = 2 * Scale;
            BoxY = 2 * Scale;
            // One cell of margin around the glyphs, one cell between digits.
            BoxWidth = (Digits * (GlyphWidth + 1) + 1) * Scale;
            BoxHeight = (GlyphHeight + 2) * Scale;
        }

        public int Width { get; }

        public int Height { get; }

        public int Shift { get; }

        public long Frame { get; }

        public int Digits { get; }

        public int Scale { get; }

        public int BoxX { get; }

        public int BoxY { get; }

        public int BoxWidth { get; }

        public int BoxHeight { get; }

        public bool InCounter(int sourceY) => sourceY >= BoxY && sourceY < BoxY + BoxHeight && BoxX < Width;

        /// <summary>The bar of every output column (source columns mirrored when flipped).</summary>
        public void FillBars(Span<byte> classes, bool horizontalFlip, Span<byte> source)
        {
            var width = Width;
            for (var x = 0; x < width; x++)
            {
                var scrolled = x + Shift;
                if (scrolled >= width)
                {
                    scrolled -= width;
                }
                source[x] = (byte)(scrolled * BarCount / width);
            }
            Place(source, classes, horizontalFlip);
        }

        /// <summary>A row through the counter box: the bars, the box, and the glyph pixels of this row.</summary>
        public void FillCounterRow(Span<byte> classes, Span<byte> source, int sourceY, bool horizontalFlip, ReadOnlySpan<byte> outputBars)
        {
            // Back to source order (a mirror is its own inverse), then draw in source coordinates.
            Place(outputBars, source, horizontalFlip);
            var boxEnd = Math.Min(Width, BoxX + BoxWidth);
            source.Slice(BoxX, boxEnd - BoxX).Fill(CounterBackground);
            var cellRow = (sourceY - BoxY) / Scale - 1;
            if (cellRow is >= 0 and < GlyphHeight)
            {
                ReadOnlySpan<byte> font = Font;
                var value = Frame;
                for (var digit = Digits - 1; digit >= 0; digit--)
                {
                    var bits = font[(int)(value % 10) * GlyphHeight + cellRow];
                    value /= 10;
                    for (var column = 0; column < GlyphWidth; column++)
                    {
                        if ((bits & (4 >> column)) == 0)
                        {
                            continue;
                        }
                        var start = BoxX + (1 + digit * (GlyphWidth + 1) + column) * Scale;
                        var end = Math.Min(boxEnd, start + Scale);
                        if (start < end)
                        {
                            source.Slice(start, end - start).Fill(CounterForeground);
                        }
                    }
                }
            }
            Place(source, classes, horizontalFlip);
        }

        private static void Place(ReadOnlySpan<byte> from, Span<byte> to, bool mirror)
        {
            from.CopyTo(to);
            if (mirror)
            {
                to.Reverse();
            }
        }
    }

    private sealed class Scratch
    {
        public byte[] Classes = [];
        public byte[] Counter = [];
        public byte[] Source = [];
        public byte[] Template = [];

        public void Prepare(int width)
        {
            if (Classes.Length < width)
            {
                Classes = new byte[width];
                Counter = new byte[width];
                Source = new byte[width];
                Template = new byte[(width + 1) / 2 * 4 + width * 3];
            }
        }
    }
}
