using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Device;

/// <summary>One V4L2 control a device offers: what QUERYCTRL and QUERY_EXT_CTRL report about it.</summary>
/// <param name="Id">The control id (V4L2_CID_*); its class is the upper 16 bits.</param>
/// <param name="Name">The name reported (at most 31 ASCII characters).</param>
/// <param name="Type">Integer, boolean, button or control class (the types whose value is one 32-bit integer).</param>
/// <param name="Minimum">The lowest value accepted.</param>
/// <param name="Maximum">The highest value accepted.</param>
/// <param name="Step">The step between accepted values.</param>
/// <param name="Default">The value at power-on.</param>
/// <param name="Flags">V4L2_CTRL_FLAG_* reported by the queries (READ_ONLY and WRITE_ONLY are enforced).</param>
public sealed record ControlDefinition(uint Id, string Name, v4l2_ctrl_type Type, int Minimum, int Maximum, int Step, int Default, uint Flags = 0)
{
    /// <summary>The control class (V4L2_CTRL_ID2WHICH): the id with its low 16 bits cleared.</summary>
    public uint Class => Id & 0x0FFF0000;

    /// <summary>Whether this is the control that names a class (type V4L2_CTRL_TYPE_CTRL_CLASS).</summary>
    public bool IsClassControl => Type == v4l2_ctrl_type.V4L2_CTRL_TYPE_CTRL_CLASS;

    /// <summary>Whether reading the value is refused (EACCES).</summary>
    public bool IsWriteOnly => (Flags & Constants.V4L2_CTRL_FLAG_WRITE_ONLY) != 0;

    /// <summary>Whether writing the value is refused (EACCES).</summary>
    public bool IsReadOnly => (Flags & Constants.V4L2_CTRL_FLAG_READ_ONLY) != 0;

    /// <summary>Whether <paramref name="value"/> is within range and on a step.</summary>
    public bool Accepts(long value) => value >= Minimum && value <= Maximum && (Step <= 1 || (value - Minimum) % Step == 0);
}
