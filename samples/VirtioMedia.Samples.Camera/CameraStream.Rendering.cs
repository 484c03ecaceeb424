using System;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Samples.Camera;

/// <summary>Rendering frames into the buffers of a <see cref="CameraStream"/>.</summary>
internal sealed partial class CameraStream
{
    private readonly byte[][] _staging = [[], []];
    // CameraOptions.FillOnly: the precomputed frame and the format it was rendered for.
    private readonly byte[][] _fill = [[], []];
    private FrameFormat? _fillFormat;

    private void Render(QueueBuffer buffer, FrameFormat format, uint frame, in PatternControls controls)
    {
        Span<int> strides = [format.BytesPerLine0, format.BytesPerLine1];
        var planes = strides.Slice(0, format.PlaneCount);
        if (_camera.Options.FillOnly)
        {
            Fill(buffer, format, planes);
            return;
        }
        // Rendered on the stream's own thread, outside any command: the lease keeps region 0 mapped meanwhile.
        using var lease = buffer.LeaseMemory();
        if (buffer.TryGetSpan(0, out var plane0))
        {
            var plane1 = Span<byte>.Empty;
            if (format.PlaneCount > 1)
            {
                buffer.TryGetSpan(1, out plane1);
                plane1 = plane1.Slice(0, format.PlaneSize1);
            }
            TestPattern.Render(format.Pixelformat, format.Width, format.Height, planes, frame, controls, plane0.Slice(0, format.PlaneSize0), plane1);
            return;
        }
        // Guest pages are scattered: render into a staging copy, then write it through the SG list.
        for (var plane = 0; plane < format.PlaneCount; plane++)
        {
            if (_staging[plane].Length < format.PlaneSize(plane))
            {
                _staging[plane] = new byte[format.PlaneSize(plane)];
            }
        }
        TestPattern.Render(format.Pixelformat, format.Width, format.Height, planes, frame, controls,
            _staging[0].AsSpan(0, format.PlaneSize0), _staging[1].AsSpan(0, format.PlaneSize1));
        for (var plane = 0; plane < format.PlaneCount; plane++)
        {
            buffer.TryWrite(plane, _staging[plane].AsSpan(0, format.PlaneSize(plane)));
        }
    }

    private void Fill(QueueBuffer buffer, FrameFormat format, ReadOnlySpan<int> strides)
    {
        if (_fillFormat != format)
        {
            for (var plane = 0; plane < format.PlaneCount; plane++)
            {
                _fill[plane] = new byte[format.PlaneSize(plane)];
            }
            TestPattern.Render(format.Pixelformat, format.Width, format.Height, strides, 0, PatternControls.Default,
                _fill[0], format.PlaneCount > 1 ? _fill[1] : default);
            _fillFormat = format;
        }
        for (var plane = 0; plane < format.PlaneCount; plane++)
        {
            buffer.TryWrite(plane, _fill[plane].AsSpan(0, format.PlaneSize(plane)));
        }
    }
}
