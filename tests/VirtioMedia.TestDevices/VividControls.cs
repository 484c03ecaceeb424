using System;
using System.Text;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.TestDevices;

/// <summary>What a <see cref="VividControls"/> device gets wrong; <see cref="None"/> answers as vivid does.</summary>
public enum VividControlFault
{
    /// <summary>Every control answers as the kernel's control framework answers for vivid.</summary>
    None,

    /// <summary>G_CTRL and G_EXT_CTRLS answer the bitmask with bit 0 set, a bit its maximum 0x80402010 lacks
    /// (v4l2-test-controls.cpp, checkSimpleCtrl / checkExtendedCtrl: "returned control value out of range").</summary>
    BitmaskValueOutsideMaximum,

    /// <summary>QUERYCTRL and QUERY_EXT_CTRL report the bitmask with flag 0x10000, which videodev2.h does not define.</summary>
    UnknownFlag,

    /// <summary>QUERY_EXT_CTRL reports the dynamic array with one element more than dims[0] allows
    /// (v4l2-test-controls.cpp, checkExtendedCtrl, v4l-utils 1.24 and later: elems &gt; dims[0]).</summary>
    DynamicArrayAboveDims,

    /// <summary>QUERYCTRL answers the bitmask's maximum without bit 31, so it is no longer QUERY_EXT_CTRL's maximum.</summary>
    QueryCtrlBitmaskMaximumDiffers,

    /// <summary>S_CTRL and S/TRY_EXT_CTRLS accept the menu's skipped item 2, which QUERYMENU does not list
    /// (v4l2-test-controls.cpp, testSimpleControls: "could set invalid menu item").</summary>
    SkippedMenuItemAccepted,

    /// <summary>TRY_EXT_CTRLS refuses every value of the menu with ERANGE, its current one included
    /// (v4l2-test-controls.cpp, testExtendedControls: "try_ext_ctrls returned an error").</summary>
    TryRefusesMenuValues,
}

/// <summary>
/// The sample camera with its controls replaced by vivid's test controls of the user class (Linux 6.1
/// drivers/media/test-drivers/vivid/vivid-ctrls.c, ids VIVID_CID_CUSTOM_BASE + n): a menu with skipped items, a
/// bitmask whose maximum has bit 31 set, an integer menu with a skipped item, a U32 dynamic array, beside an
/// integer brightness and the user class control. Their queries and values follow the kernel's control framework
/// (v4l2-ctrls-api.c, v4l2-ctrls-core.c): QUERYCTRL stores QUERY_EXT_CTRL's 64-bit fields in its 32-bit ones,
/// QUERYMENU answers EINVAL for skipped items, S_CTRL clamps integers, masks bitmasks, refuses a menu index out of
/// range with ERANGE and a skipped one with EINVAL. Formats, buffers and streams are the camera's. Values are the
/// device's, shared by its sessions. Control events are not served for these controls (the camera's subscriptions
/// know only its own), and the array's payload is not carried: G/S/TRY_EXT_CTRLS of it answer ENOSPC when the size
/// is short, as the kernel does, and EINVAL otherwise.
/// </summary>
public sealed class VividControls
{
    private const uint UserClass = 0x0098_0001;
    private const uint VividCustomBase = 0x0098_f900;

    /// <summary>vivid's VIVID_CID_MENU.</summary>
    public const uint MenuId = VividCustomBase + 4;

    /// <summary>vivid's VIVID_CID_BITMASK.</summary>
    public const uint BitmaskId = VividCustomBase + 6;

    /// <summary>vivid's VIVID_CID_INTMENU.</summary>
    public const uint IntegerMenuId = VividCustomBase + 7;

    /// <summary>vivid's VIVID_CID_U32_DYN_ARRAY.</summary>
    public const uint DynamicArrayId = VividCustomBase + 13;

    private const uint UnknownFlag = 0x1_0000;

    private readonly object _gate = new();
    private readonly Control[] _controls;
    private readonly long[] _values;

    /// <summary>vivid's test controls on the sample camera with <paramref name="options"/>, getting <paramref name="fault"/> wrong.</summary>
    public VividControls(VividControlFault fault = VividControlFault.None, CameraOptions? options = null)
    {
        if (!Enum.IsDefined(fault))
        {
            throw new ArgumentOutOfRangeException(nameof(fault), fault, "not a VividControlFault");
        }
        Fault = fault;
        Camera = new VirtualCamera(options);
        _controls =
        [
            new(UserClass, "User Controls", Constants.V4L2_CTRL_TYPE_CTRL_CLASS, 0, 0, 0, 0, Constants.V4L2_CTRL_FLAG_READ_ONLY | Constants.V4L2_CTRL_FLAG_WRITE_ONLY),
            new(Constants.V4L2_CID_BRIGHTNESS, "Brightness", Constants.V4L2_CTRL_TYPE_INTEGER, 0, 255, 1, 128, Constants.V4L2_CTRL_FLAG_SLIDER),
            // Items 0 and 5 lie outside 1..4; item 2 is skipped.
            new(MenuId, "Menu", Constants.V4L2_CTRL_TYPE_MENU, 1, 4, 1, 3, 0, SkipMask: 0x04),
            new(BitmaskId, "Bitmask", Constants.V4L2_CTRL_TYPE_BITMASK, 0, 0x8040_2010, 0, 0x8000_2000, 0),
            new(IntegerMenuId, "Integer Menu", Constants.V4L2_CTRL_TYPE_INTEGER_MENU, 1, 8, 1, 4, 0, SkipMask: 0x02),
            new(DynamicArrayId, "U32 Dynamic Array", Constants.V4L2_CTRL_TYPE_U32, 10, 90, 1, 50,
                Constants.V4L2_CTRL_FLAG_HAS_PAYLOAD | Constants.V4L2_CTRL_FLAG_DYNAMIC_ARRAY, MaxElements: 100),
        ];
        _values = Array.ConvertAll(_controls, control => control.Default);
    }

    /// <summary>What this device gets wrong.</summary>
    public VividControlFault Fault { get; }

    /// <summary>The camera underneath (formats, buffers, streams).</summary>
    public VirtualCamera Camera { get; }

    /// <summary>The configuration space: the camera's.</summary>
    public virtio_media_config Config => Camera.Config;

    /// <summary>The handler factory: the camera's session handler with the control ioctls answered from vivid's controls.</summary>
    public V4l2DeviceHandler<DeviceIoctlContext> CreateHandler(DeviceSession session) => new Handler(Camera.CreateHandler(session), this);

    /// <summary>The integer menu's values (vivid_ctrl_int_menu_values).</summary>
    private static readonly long[] IntegerMenuValues = [1, 1, 2, 3, 5, 8, 13, 21, 42];

    private sealed record Control(uint Id, string Name, uint Type, long Minimum, long Maximum, ulong Step, long Default, uint Flags, ulong SkipMask = 0, uint MaxElements = 0)
    {
        public uint Class => Id & 0x0FFF_0000;

        // The kernel's is_int: a single value that G/S_CTRL carry (not a payload, not 64-bit).
        public bool IsInt => MaxElements == 0 && Type is not (Constants.V4L2_CTRL_TYPE_INTEGER64 or Constants.V4L2_CTRL_TYPE_STRING);

        // What NEXT_COMPOUND walks: compound types and arrays.
        public bool IsCompound => Type >= Constants.V4L2_CTRL_COMPOUND_TYPES || MaxElements > 0;

        public bool IsMenu => Type is Constants.V4L2_CTRL_TYPE_MENU or Constants.V4L2_CTRL_TYPE_INTEGER_MENU;
    }

    private int IndexOf(uint id) => Array.FindIndex(_controls, control => control.Id == id);

    private int Find(uint id)
    {
        var next = (id & Constants.V4L2_CTRL_FLAG_NEXT_CTRL) != 0;
        var compound = (id & Constants.V4L2_CTRL_FLAG_NEXT_COMPOUND) != 0;
        var bare = id & ~(Constants.V4L2_CTRL_FLAG_NEXT_CTRL | Constants.V4L2_CTRL_FLAG_NEXT_COMPOUND);
        if (!next && !compound)
        {
            return IndexOf(bare);
        }
        return Array.FindIndex(_controls, control => control.Id > bare && (control.IsCompound ? compound : next));
    }

    private int QueryExtControl(ref v4l2_query_ext_ctrl payload)
    {
        var index = Find(payload.id);
        if (index < 0)
        {
            return Constants.EINVAL;
        }
        var control = _controls[index];
        payload = default;
        payload.id = control.Id;
        payload.type = control.Type;
        Encoding.ASCII.GetBytes(control.Name, payload.name);
        (payload.minimum, payload.maximum, payload.step, payload.default_value) = (control.Minimum, control.Maximum, control.Step, control.Default);
        payload.flags = control.Flags | (Fault == VividControlFault.UnknownFlag && control.Id == BitmaskId ? UnknownFlag : 0);
        payload.elem_size = sizeof(uint);
        payload.elems = 1;
        if (control.MaxElements > 0)
        {
            // A dynamic array reports its current length (vivid's starts with one element) and its most in dims[0].
            payload.nr_of_dims = 1;
            payload.dims[0] = control.MaxElements;
            payload.elems = Fault == VividControlFault.DynamicArrayAboveDims ? control.MaxElements + 1 : 1;
        }
        return 0;
    }

    private int QueryControl(ref v4l2_queryctrl payload)
    {
        var extended = new v4l2_query_ext_ctrl { id = payload.id };
        var status = QueryExtControl(ref extended);
        if (status != 0)
        {
            return status;
        }
        payload = default;
        (payload.id, payload.type, payload.flags) = (extended.id, extended.type, extended.flags);
        ((ReadOnlySpan<byte>)extended.name).CopyTo(payload.name);
        if (!_controls[IndexOf(extended.id)].IsCompound && extended.type != Constants.V4L2_CTRL_TYPE_INTEGER64)
        {
            // v4l2_queryctrl: the 64-bit fields stored in the 32-bit ones (a bitmask's bit 31 becomes the sign).
            payload.minimum = (int)extended.minimum;
            payload.maximum = (int)extended.maximum;
            payload.step = (int)extended.step;
            payload.default_value = (int)extended.default_value;
            if (Fault == VividControlFault.QueryCtrlBitmaskMaximumDiffers && extended.id == BitmaskId)
            {
                payload.maximum &= int.MaxValue;
            }
        }
        return 0;
    }

    private int QueryMenu(ref v4l2_querymenu payload)
    {
        var index = IndexOf(payload.id);
        if (index < 0 || !_controls[index].IsMenu)
        {
            return Constants.EINVAL;
        }
        var control = _controls[index];
        var item = payload.index;
        if (item < control.Minimum || item > control.Maximum || (item < 64 && (control.SkipMask & (1UL << (int)item)) != 0))
        {
            return Constants.EINVAL;
        }
        payload = new v4l2_querymenu { id = control.Id, index = item };
        if (control.Type == Constants.V4L2_CTRL_TYPE_INTEGER_MENU)
        {
            payload.value = IntegerMenuValues[item];
        }
        else
        {
            Encoding.ASCII.GetBytes($"Menu Item {item}", payload.name);
        }
        return 0;
    }

    /// <summary>The kernel's validation of a new value (std_validate): the value the control would take, or an errno.</summary>
    private int Validate(Control control, ref long value, bool trying)
    {
        switch (control.Type)
        {
            case Constants.V4L2_CTRL_TYPE_INTEGER:
                var steps = (Math.Clamp(value, control.Minimum, control.Maximum) - control.Minimum + (long)(control.Step / 2)) / (long)control.Step;
                value = Math.Min(control.Minimum + steps * (long)control.Step, control.Maximum);
                return 0;
            case Constants.V4L2_CTRL_TYPE_BOOLEAN:
                value = value != 0 ? 1 : 0;
                return 0;
            case Constants.V4L2_CTRL_TYPE_BITMASK:
                value = (int)((uint)value & (uint)control.Maximum);
                return 0;
            case Constants.V4L2_CTRL_TYPE_MENU:
            case Constants.V4L2_CTRL_TYPE_INTEGER_MENU:
                if (trying && Fault == VividControlFault.TryRefusesMenuValues && control.Id == MenuId)
                {
                    return Constants.ERANGE;
                }
                if (value < control.Minimum || value > control.Maximum)
                {
                    return Constants.ERANGE;
                }
                var skipped = value < 64 && (control.SkipMask & (1UL << (int)value)) != 0;
                return skipped && !(Fault == VividControlFault.SkippedMenuItemAccepted && control.Id == MenuId) ? Constants.EINVAL : 0;
            default:
                value = 0;
                return 0;
        }
    }

    private int Answer(int index, long value) =>
        (int)(Fault == VividControlFault.BitmaskValueOutsideMaximum && _controls[index].Id == BitmaskId ? value | 1 : value);

    private int GetControl(ref v4l2_control payload)
    {
        var index = IndexOf(payload.id);
        if (index < 0 || !_controls[index].IsInt)
        {
            return Constants.EINVAL;
        }
        if ((_controls[index].Flags & Constants.V4L2_CTRL_FLAG_WRITE_ONLY) != 0)
        {
            return Constants.EACCES;
        }
        lock (_gate)
        {
            payload.value = Answer(index, _values[index]);
        }
        return 0;
    }

    private int SetControl(ref v4l2_control payload)
    {
        var index = IndexOf(payload.id);
        if (index < 0 || !_controls[index].IsInt)
        {
            return Constants.EINVAL;
        }
        var control = _controls[index];
        if ((control.Flags & Constants.V4L2_CTRL_FLAG_READ_ONLY) != 0)
        {
            return Constants.EACCES;
        }
        long value = payload.value;
        var status = Validate(control, ref value, trying: false);
        if (status != 0)
        {
            return status;
        }
        lock (_gate)
        {
            _values[index] = value;
        }
        payload.value = (int)value;
        return 0;
    }

    private enum Access
    {
        Get,
        Try,
        Set,
    }

    /// <summary>G/S/TRY_EXT_CTRLS with the error_idx rules of the camera's ControlSet (G and S: count, TRY: the failing index).</summary>
    private int ExtControls(ref v4l2_ext_controls payload, Span<v4l2_ext_control> controls, Access access)
    {
        var which = payload.which;
        var byClass = which != Constants.V4L2_CTRL_WHICH_CUR_VAL && which != Constants.V4L2_CTRL_WHICH_DEF_VAL;
        if ((byClass && (which & 0xFFFF) != 0) || (which == Constants.V4L2_CTRL_WHICH_DEF_VAL && access != Access.Get))
        {
            payload.error_idx = payload.count;
            return Constants.EINVAL;
        }
        Span<long> values = controls.Length <= 64 ? stackalloc long[controls.Length] : new long[controls.Length];
        for (var i = 0; i < controls.Length; i++)
        {
            var status = CheckOne(ref controls[i], byClass ? which : 0, access, out values[i]);
            if (status != 0)
            {
                payload.error_idx = access == Access.Try ? (uint)i : payload.count;
                return status;
            }
        }
        lock (_gate)
        {
            for (var i = 0; i < controls.Length; i++)
            {
                var index = IndexOf(controls[i].id);
                if (access == Access.Set)
                {
                    _values[index] = values[i];
                }
                controls[i].value = access == Access.Get
                    ? Answer(index, which == Constants.V4L2_CTRL_WHICH_DEF_VAL ? _controls[index].Default : _values[index])
                    : (int)values[i];
            }
        }
        return 0;
    }

    private int CheckOne(ref v4l2_ext_control element, uint controlClass, Access access, out long value)
    {
        value = element.value;
        var index = IndexOf(element.id);
        if (index < 0 || (controlClass != 0 && _controls[index].Class != controlClass) || _controls[index].Type == Constants.V4L2_CTRL_TYPE_CTRL_CLASS)
        {
            return Constants.EINVAL;
        }
        var control = _controls[index];
        var refused = access == Access.Get ? Constants.V4L2_CTRL_FLAG_WRITE_ONLY : Constants.V4L2_CTRL_FLAG_READ_ONLY;
        if ((control.Flags & refused) != 0)
        {
            return Constants.EACCES;
        }
        if (control.MaxElements > 0)
        {
            // The kernel answers ENOSPC with the size needed when the array does not fit; the payload itself is
            // not carried by this device.
            const uint needed = sizeof(uint);
            if (element.size < needed)
            {
                element.size = needed;
                return Constants.ENOSPC;
            }
            return Constants.EINVAL;
        }
        return access == Access.Get ? 0 : Validate(control, ref value, trying: access == Access.Try);
    }

    /// <summary>The camera's session with every control ioctl answered from vivid's controls.</summary>
    private sealed class Handler(V4l2DeviceHandler<DeviceIoctlContext> inner, VividControls device) : ForwardingDeviceHandler(inner)
    {
        public override int VIDIOC_QUERYCTRL(DeviceIoctlContext context, ref v4l2_queryctrl payload) => device.QueryControl(ref payload);

        public override int VIDIOC_QUERY_EXT_CTRL(DeviceIoctlContext context, ref v4l2_query_ext_ctrl payload) => device.QueryExtControl(ref payload);

        public override int VIDIOC_QUERYMENU(DeviceIoctlContext context, ref v4l2_querymenu payload) => device.QueryMenu(ref payload);

        public override int VIDIOC_G_CTRL(DeviceIoctlContext context, ref v4l2_control payload) => device.GetControl(ref payload);

        public override int VIDIOC_S_CTRL(DeviceIoctlContext context, ref v4l2_control payload) => device.SetControl(ref payload);

        public override int VIDIOC_G_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) => device.ExtControls(ref payload, context.Controls, Access.Get);

        public override int VIDIOC_TRY_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) => device.ExtControls(ref payload, context.Controls, Access.Try);

        public override int VIDIOC_S_EXT_CTRLS(DeviceIoctlContext context, ref v4l2_ext_controls payload) => device.ExtControls(ref payload, context.Controls, Access.Set);
    }
}
