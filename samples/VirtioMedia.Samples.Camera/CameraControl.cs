using System;
using System.Collections.Generic;
using VirtioMedia.Abi;

namespace VirtioMedia.Samples.Camera;

/// <summary>One of the camera's user controls: its id, name, type and range.</summary>
/// <param name="Id">The V4L2 control id (V4L2_CID_*).</param>
/// <param name="Name">The name QUERYCTRL reports.</param>
/// <param name="Type">Integer or boolean.</param>
/// <param name="Minimum">The lowest value accepted.</param>
/// <param name="Maximum">The highest value accepted.</param>
/// <param name="Default">The value at power-on.</param>
public sealed record CameraControl(uint Id, string Name, v4l2_ctrl_type Type, int Minimum, int Maximum, int Default)
{
    /// <summary>The controls in id order (QUERYCTRL with V4L2_CTRL_FLAG_NEXT_CTRL walks them in this order).</summary>
    public static IReadOnlyList<CameraControl> All { get; } =
    [
        new(Constants.V4L2_CID_BRIGHTNESS, "Brightness", v4l2_ctrl_type.V4L2_CTRL_TYPE_INTEGER, PatternControls.LevelMinimum, PatternControls.LevelMaximum, PatternControls.LevelDefault),
        new(Constants.V4L2_CID_CONTRAST, "Contrast", v4l2_ctrl_type.V4L2_CTRL_TYPE_INTEGER, PatternControls.LevelMinimum, PatternControls.LevelMaximum, PatternControls.LevelDefault),
        new(Constants.V4L2_CID_SATURATION, "Saturation", v4l2_ctrl_type.V4L2_CTRL_TYPE_INTEGER, PatternControls.LevelMinimum, PatternControls.LevelMaximum, PatternControls.LevelDefault),
        new(Constants.V4L2_CID_HUE, "Hue", v4l2_ctrl_type.V4L2_CTRL_TYPE_INTEGER, PatternControls.HueMinimum, PatternControls.HueMaximum, 0),
        new(Constants.V4L2_CID_HFLIP, "Horizontal Flip", v4l2_ctrl_type.V4L2_CTRL_TYPE_BOOLEAN, 0, 1, 0),
        new(Constants.V4L2_CID_VFLIP, "Vertical Flip", v4l2_ctrl_type.V4L2_CTRL_TYPE_BOOLEAN, 0, 1, 0),
    ];

    /// <summary>The step between values (always 1 here).</summary>
    public int Step => 1;

    /// <summary>Finds a control by id.</summary>
    public static CameraControl? Find(uint id)
    {
        foreach (var control in All)
        {
            if (control.Id == id)
            {
                return control;
            }
        }
        return null;
    }

    /// <summary>The control with the smallest id above <paramref name="id"/> (QUERYCTRL's NEXT_CTRL walk).</summary>
    public static CameraControl? Next(uint id)
    {
        foreach (var control in All)
        {
            if (control.Id > id)
            {
                return control;
            }
        }
        return null;
    }

    /// <summary>Whether <paramref name="value"/> is within range; out-of-range values are refused with ERANGE, not clamped.</summary>
    public bool Accepts(long value) => value >= Minimum && value <= Maximum;

    /// <summary>This control's value in <paramref name="controls"/>.</summary>
    public int Read(in PatternControls controls) => Id switch
    {
        Constants.V4L2_CID_BRIGHTNESS => controls.Brightness,
        Constants.V4L2_CID_CONTRAST => controls.Contrast,
        Constants.V4L2_CID_SATURATION => controls.Saturation,
        Constants.V4L2_CID_HUE => controls.Hue,
        Constants.V4L2_CID_HFLIP => controls.HorizontalFlip ? 1 : 0,
        _ => controls.VerticalFlip ? 1 : 0,
    };

    /// <summary><paramref name="controls"/> with this control set to <paramref name="value"/> (already range-checked).</summary>
    public PatternControls Write(in PatternControls controls, int value) => Id switch
    {
        Constants.V4L2_CID_BRIGHTNESS => controls with { Brightness = value },
        Constants.V4L2_CID_CONTRAST => controls with { Contrast = value },
        Constants.V4L2_CID_SATURATION => controls with { Saturation = value },
        Constants.V4L2_CID_HUE => controls with { Hue = value },
        Constants.V4L2_CID_HFLIP => controls with { HorizontalFlip = value != 0 },
        _ => controls with { VerticalFlip = value != 0 },
    };
}
