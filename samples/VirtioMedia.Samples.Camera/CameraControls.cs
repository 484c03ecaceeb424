using System;
using System.Collections.Generic;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Samples.Camera;

/// <summary>The camera's user controls (as <see cref="ControlDefinition"/>s) and how they map to <see cref="PatternControls"/>.</summary>
public static class CameraControls
{
    private static readonly uint[] Ids =
    [
        Constants.V4L2_CID_BRIGHTNESS,
        Constants.V4L2_CID_CONTRAST,
        Constants.V4L2_CID_SATURATION,
        Constants.V4L2_CID_HUE,
        Constants.V4L2_CID_HFLIP,
        Constants.V4L2_CID_VFLIP,
    ];

    /// <summary>Brightness, contrast, saturation, hue and the two flips, in id order.</summary>
    public static IReadOnlyList<ControlDefinition> Definitions { get; } =
    [
        new(Constants.V4L2_CID_BRIGHTNESS, "Brightness", v4l2_ctrl_type.V4L2_CTRL_TYPE_INTEGER, PatternControls.LevelMinimum, PatternControls.LevelMaximum, 1, PatternControls.LevelDefault, Constants.V4L2_CTRL_FLAG_SLIDER),
        new(Constants.V4L2_CID_CONTRAST, "Contrast", v4l2_ctrl_type.V4L2_CTRL_TYPE_INTEGER, PatternControls.LevelMinimum, PatternControls.LevelMaximum, 1, PatternControls.LevelDefault, Constants.V4L2_CTRL_FLAG_SLIDER),
        new(Constants.V4L2_CID_SATURATION, "Saturation", v4l2_ctrl_type.V4L2_CTRL_TYPE_INTEGER, PatternControls.LevelMinimum, PatternControls.LevelMaximum, 1, PatternControls.LevelDefault, Constants.V4L2_CTRL_FLAG_SLIDER),
        new(Constants.V4L2_CID_HUE, "Hue", v4l2_ctrl_type.V4L2_CTRL_TYPE_INTEGER, PatternControls.HueMinimum, PatternControls.HueMaximum, 1, 0, Constants.V4L2_CTRL_FLAG_SLIDER),
        new(Constants.V4L2_CID_HFLIP, "Horizontal Flip", v4l2_ctrl_type.V4L2_CTRL_TYPE_BOOLEAN, 0, 1, 1, 0),
        new(Constants.V4L2_CID_VFLIP, "Vertical Flip", v4l2_ctrl_type.V4L2_CTRL_TYPE_BOOLEAN, 0, 1, 1, 0),
    ];

    /// <summary>The picture controls in effect in <paramref name="controls"/>, read at one instant.</summary>
    public static PatternControls Read(ControlSet controls)
    {
        ArgumentNullException.ThrowIfNull(controls);
        Span<int> values = stackalloc int[Ids.Length];
        controls.GetValues(Ids, values);
        return new PatternControls(values[0], values[1], values[2], values[3], values[4] != 0, values[5] != 0);
    }
}
