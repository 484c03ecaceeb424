using System;
using System.Collections.Generic;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Samples.Guest;

/// <summary>
/// Checks received frames against <see cref="TestPattern.Render"/>, byte for byte, padding included. The controls a
/// frame was rendered with are known only within bounds: a buffer queued after a control change must carry the new
/// value, one queued before it may carry either (the camera may render it before or after the change); and a
/// picture never goes back to older controls. The checker tracks this with control "epochs", one per change.
/// </summary>
internal sealed class FrameVerifier
{
    private readonly FrameLayout _layout;
    private readonly List<PatternControls> _epochs = new();
    private readonly byte[][] _expected;
    private int _lastEpoch;

    public FrameVerifier(FrameLayout layout, PatternControls initial)
    {
        _layout = layout;
        _epochs.Add(initial);
        _expected = new byte[layout.PlaneCount][];
        for (var plane = 0; plane < layout.PlaneCount; plane++)
        {
            _expected[plane] = new byte[layout.PlaneSizes[plane]];
        }
    }

    /// <summary>The epoch of the controls in force now (what a buffer queued now will carry).</summary>
    public int CurrentEpoch => _epochs.Count - 1;

    /// <summary>The controls in force now.</summary>
    public PatternControls Current => _epochs[^1];

    /// <summary>Frames that matched.</summary>
    public int Matched { get; private set; }

    /// <summary>Frames that did not.</summary>
    public int Mismatched { get; private set; }

    /// <summary>The first mismatch, described.</summary>
    public string? FirstMismatch { get; private set; }

    /// <summary>A control change took effect (S_CTRL returned).</summary>
    public void Change(PatternControls controls) => _epochs.Add(controls);

    /// <summary>Checks frame <paramref name="sequence"/> of a buffer queued in epoch <paramref name="queuedEpoch"/>.</summary>
    /// <param name="planes">Reads plane i of the received frame.</param>
    public bool Check(long sequence, int queuedEpoch, Func<int, ReadOnlySpan<byte>> planes)
    {
        var first = Math.Max(queuedEpoch, _lastEpoch);
        string? difference = null;
        for (var epoch = CurrentEpoch; epoch >= first; epoch--)
        {
            Render(sequence, _epochs[epoch]);
            difference = Compare(planes);
            if (difference is null)
            {
                _lastEpoch = epoch;
                Matched++;
                return true;
            }
        }
        Mismatched++;
        FirstMismatch ??= $"frame {sequence}: {difference} (controls {_epochs[first]}{(first < CurrentEpoch ? $" or later" : "")})";
        return false;
    }

    private void Render(long sequence, in PatternControls controls)
    {
        TestPattern.Render(_layout.PixelFormat, _layout.Width, _layout.Height, _layout.BytesPerLine, sequence, controls,
            _expected[0], _layout.PlaneCount > 1 ? _expected[1] : Span<byte>.Empty);
    }

    private string? Compare(Func<int, ReadOnlySpan<byte>> planes)
    {
        for (var plane = 0; plane < _expected.Length; plane++)
        {
            var actual = planes(plane);
            var expected = _expected[plane].AsSpan();
            var at = actual.Slice(0, Math.Min(actual.Length, expected.Length)).CommonPrefixLength(expected);
            if (at < expected.Length)
            {
                if (at >= actual.Length)
                {
                    return $"plane {plane} has {actual.Length} bytes, expected {expected.Length}";
                }
                var stride = _layout.BytesPerLine[plane];
                return $"plane {plane} byte {at} (row {at / stride}, column byte {at % stride}) is 0x{actual[at]:X2}, expected 0x{expected[at]:X2}";
            }
        }
        return null;
    }
}
