using System;

namespace VirtioMedia.Samples.Camera;

/// <summary>
/// The picture controls the test pattern honours, with the camera's control ranges: brightness, contrast and
/// saturation 0..255 (128 is neutral), hue -180..180 degrees (0 is neutral), and the two flips.
/// </summary>
/// <param name="Brightness">Added to luma as <c>Brightness - 128</c>.</param>
/// <param name="Contrast">Scales luma around black by <c>Contrast / 128</c>.</param>
/// <param name="Saturation">Scales chroma by <c>Saturation / 128</c>.</param>
/// <param name="Hue">Rotates chroma by this many degrees.</param>
/// <param name="HorizontalFlip">Mirrors the picture left to right.</param>
/// <param name="VerticalFlip">Mirrors the picture top to bottom.</param>
public readonly record struct PatternControls(int Brightness, int Contrast, int Saturation, int Hue,
                                              bool HorizontalFlip, bool VerticalFlip)
{
    /// <summary>Lowest brightness, contrast and saturation.</summary>
    public const int LevelMinimum = 0;

    /// <summary>Highest brightness, contrast and saturation.</summary>
    public const int LevelMaximum = 255;

    /// <summary>The neutral (default) brightness, contrast and saturation.</summary>
    public const int LevelDefault = 128;

    /// <summary>Lowest hue, in degrees.</summary>
    public const int HueMinimum = -180;

    /// <summary>Highest hue, in degrees.</summary>
    public const int HueMaximum = 180;

    /// <summary>The controls' default values: a neutral picture, not flipped.</summary>
    public static PatternControls Default { get; } = new(LevelDefault, LevelDefault, LevelDefault, 0, false, false);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a value is outside its control's range.</summary>
    public void Validate()
    {
        CheckLevel(Brightness, nameof(Brightness));
        CheckLevel(Contrast, nameof(Contrast));
        CheckLevel(Saturation, nameof(Saturation));
        if (Hue is < HueMinimum or > HueMaximum)
        {
            throw new ArgumentOutOfRangeException(nameof(Hue), Hue, $"hue must be within {HueMinimum}..{HueMaximum}");
        }
    }

    private static void CheckLevel(int value, string name)
    {
        if (value is < LevelMinimum or > LevelMaximum)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be within {LevelMinimum}..{LevelMaximum}");
        }
    }
}
