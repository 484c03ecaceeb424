using System;
using System.Collections.Generic;
using System.Text;
using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Device;

/// <summary>
/// The controls of a device with the V4L2 rules every device must keep, serving the control ioctls: one control
/// class control (type CTRL_CLASS, flags READ_ONLY | WRITE_ONLY) for each class in use, the NEXT_CTRL walk in id
/// order, EACCES for read-only and write-only controls, and the <c>error_idx</c> rules of G/S/TRY_EXT_CTRLS
/// (a failure found while validating is reported as <c>count</c> by G and S, and as the failing control's index
/// by TRY). Values are 32-bit integers; changes are atomic across one S_EXT_CTRLS. Thread-safe.
/// </summary>
/// <remarks>
/// Rules as v4l2-compliance checks them (v4l2-test-controls.cpp: checkQCtrl, testQueryExtControls,
/// testSimpleControls, testExtendedControls) and as the V4L2 documentation of VIDIOC_G_EXT_CTRLS states them.
/// </remarks>
public sealed class ControlSet
{
    private const uint NextFlags = Constants.V4L2_CTRL_FLAG_NEXT_CTRL | Constants.V4L2_CTRL_FLAG_NEXT_COMPOUND;
    private readonly object _gate = new();
    private readonly ControlDefinition[] _controls;
    private readonly int[] _values;

    /// <summary>A set of <paramref name="controls"/> at their default values, with a class control added for each class.</summary>
    /// <exception cref="ArgumentException">Two controls share an id, a range is empty, or a default is outside its range.</exception>
    public ControlSet(IEnumerable<ControlDefinition> controls)
    {
        ArgumentNullException.ThrowIfNull(controls);
        var all = new SortedDictionary<uint, ControlDefinition>();
        foreach (var control in controls)
        {
            if (control.IsClassControl)
            {
                throw new ArgumentException($"control 0x{control.Id:X8}: class controls are added by the set itself", nameof(controls));
            }
            if ((control.Id & 0xFFFF) < 0x900 || control.Minimum > control.Maximum || control.Step <= 0 || !control.Accepts(control.Default))
            {
                throw new ArgumentException($"control 0x{control.Id:X8} ({control.Name}): id, range, step or default is invalid", nameof(controls));
            }
            if (!all.TryAdd(control.Id, control))
            {
                throw new ArgumentException($"control 0x{control.Id:X8} is defined twice", nameof(controls));
            }
            var classId = control.Class | 1;
            all.TryAdd(classId, new ControlDefinition(classId, ClassName(control.Class), v4l2_ctrl_type.V4L2_CTRL_TYPE_CTRL_CLASS, 0, 0, 0, 0,
                Constants.V4L2_CTRL_FLAG_READ_ONLY | Constants.V4L2_CTRL_FLAG_WRITE_ONLY));
        }
        _controls = new ControlDefinition[all.Count];
        all.Values.CopyTo(_controls, 0);
        _values = new int[_controls.Length];
        for (var i = 0; i < _controls.Length; i++)
        {
            _values[i] = _controls[i].Default;
        }
    }

    /// <summary>
    /// Called after a control's value changed (outside the set's lock), with the control, its new value and the
    /// origin passed to the set call (a session, say, so a device can leave out feedback to it).
    /// </summary>
    public Action<ControlDefinition, int, object?>? Changed { get; set; }

    /// <summary>Every control in id order, the class controls included.</summary>
    public IReadOnlyList<ControlDefinition> Controls => _controls;

    /// <summary>The control with id <paramref name="id"/>, class controls included.</summary>
    public bool TryFind(uint id, out ControlDefinition control)
    {
        var index = IndexOf(id);
        control = index >= 0 ? _controls[index] : null!;
        return index >= 0;
    }

    /// <summary>The current value of control <paramref name="id"/>.</summary>
    /// <exception cref="ArgumentException">No such control.</exception>
    public int GetValue(uint id)
    {
        var index = IndexOf(id);
        if (index < 0)
        {
            throw new ArgumentException($"no control 0x{id:X8}", nameof(id));
        }
        lock (_gate)
        {
            return _values[index];
        }
    }

    /// <summary>The current values of <paramref name="ids"/> read at one instant (no S_EXT_CTRLS half applied).</summary>
    public void GetValues(ReadOnlySpan<uint> ids, Span<int> values)
    {
        if (values.Length < ids.Length)
        {
            throw new ArgumentException("fewer values than ids", nameof(values));
        }
        Span<int> indices = ids.Length <= 32 ? stackalloc int[ids.Length] : new int[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            indices[i] = IndexOf(ids[i]);
            if (indices[i] < 0)
            {
                throw new ArgumentException($"no control 0x{ids[i]:X8}", nameof(ids));
            }
        }
        lock (_gate)
        {
            for (var i = 0; i < ids.Length; i++)
            {
                values[i] = _values[indices[i]];
            }
        }
    }

    /// <summary>VIDIOC_QUERYCTRL: the control named by <c>id</c>, or with NEXT_CTRL the next one in id order.</summary>
    public int QueryControl(ref v4l2_queryctrl payload)
    {
        var index = FindForQuery(payload.id);
        if (index < 0)
        {
            return Constants.EINVAL;
        }
        var control = _controls[index];
        payload = default;
        payload.id = control.Id;
        payload.type = (uint)control.Type;
        WriteName(control.Name, payload.name);
        payload.minimum = control.Minimum;
        payload.maximum = control.Maximum;
        payload.step = control.Step;
        payload.default_value = control.Default;
        payload.flags = control.Flags;
        return 0;
    }

    /// <summary>VIDIOC_QUERY_EXT_CTRL: as <see cref="QueryControl"/>; there are no compound controls.</summary>
    public int QueryExtControl(ref v4l2_query_ext_ctrl payload)
    {
        var index = FindForQuery(payload.id);
        if (index < 0)
        {
            return Constants.EINVAL;
        }
        var control = _controls[index];
        payload = default;
        payload.id = control.Id;
        payload.type = (uint)control.Type;
        WriteName(control.Name, payload.name);
        payload.minimum = control.Minimum;
        payload.maximum = control.Maximum;
        payload.step = (ulong)control.Step;
        payload.default_value = control.Default;
        payload.flags = control.Flags;
        payload.elem_size = sizeof(int);
        payload.elems = 1;
        return 0;
    }

    /// <summary>VIDIOC_QUERYMENU: no control of this set is a menu, so always EINVAL.</summary>
    public static int QueryMenu(ref v4l2_querymenu payload) => Constants.EINVAL;

    /// <summary>VIDIOC_G_CTRL: EINVAL for an unknown control, EACCES for a write-only one (class controls too).</summary>
    public int GetControl(ref v4l2_control payload)
    {
        var index = IndexOf(payload.id);
        if (index < 0)
        {
            return Constants.EINVAL;
        }
        if (_controls[index].IsWriteOnly)
        {
            return Constants.EACCES;
        }
        lock (_gate)
        {
            payload.value = _values[index];
        }
        return 0;
    }

    /// <summary>VIDIOC_S_CTRL: EINVAL unknown, EACCES read-only, ERANGE out of range (values are not clamped).</summary>
    public int SetControl(ref v4l2_control payload, object? origin)
    {
        var index = IndexOf(payload.id);
        if (index < 0)
        {
            return Constants.EINVAL;
        }
        var control = _controls[index];
        if (control.IsReadOnly)
        {
            return Constants.EACCES;
        }
        if (!control.Accepts(payload.value))
        {
            return Constants.ERANGE;
        }
        bool changed;
        lock (_gate)
        {
            changed = _values[index] != payload.value;
            _values[index] = payload.value;
        }
        if (changed)
        {
            Changed?.Invoke(control, payload.value, origin);
        }
        return 0;
    }

    /// <summary>
    /// VIDIOC_G_EXT_CTRLS: the current (or, with V4L2_CTRL_WHICH_DEF_VAL, the default) values. A failure (unknown
    /// id, a control of another class than <c>which</c> names, a write-only control) sets <c>error_idx</c> to
    /// <c>count</c>: it is found before any value is read.
    /// </summary>
    public int GetExtControls(ref v4l2_ext_controls payload, Span<v4l2_ext_control> controls)
    {
        var status = Validate(ref payload, controls, Operation.Get, out _);
        if (status != 0)
        {
            return status;
        }
        var defaults = payload.which == Constants.V4L2_CTRL_WHICH_DEF_VAL;
        lock (_gate)
        {
            foreach (ref var control in controls)
            {
                var index = IndexOf(control.id);
                control.value = defaults ? _controls[index].Default : _values[index];
            }
        }
        return 0;
    }

    /// <summary>
    /// VIDIOC_TRY_EXT_CTRLS: checks the values without applying them; a failure sets <c>error_idx</c> to the
    /// index of the failing control (EINVAL unknown, EACCES read-only, ERANGE out of range).
    /// </summary>
    public int TryExtControls(ref v4l2_ext_controls payload, Span<v4l2_ext_control> controls) =>
        Validate(ref payload, controls, Operation.Try, out _);

    /// <summary>
    /// VIDIOC_S_EXT_CTRLS: checks every value, then applies them all at once; a failure changes nothing and sets
    /// <c>error_idx</c> to <c>count</c>. <see cref="Changed"/> runs for each control whose value changed.
    /// </summary>
    public int SetExtControls(ref v4l2_ext_controls payload, Span<v4l2_ext_control> controls, object? origin)
    {
        var status = Validate(ref payload, controls, Operation.Set, out _);
        if (status != 0)
        {
            return status;
        }
        Span<bool> changed = controls.Length <= 64 ? stackalloc bool[controls.Length] : new bool[controls.Length];
        lock (_gate)
        {
            for (var i = 0; i < controls.Length; i++)
            {
                var index = IndexOf(controls[i].id);
                changed[i] = _values[index] != controls[i].value;
                _values[index] = controls[i].value;
            }
        }
        var handler = Changed;
        if (handler is not null)
        {
            for (var i = 0; i < controls.Length; i++)
            {
                if (changed[i])
                {
                    handler(_controls[IndexOf(controls[i].id)], controls[i].value, origin);
                }
            }
        }
        return 0;
    }

    private enum Operation
    {
        Get,
        Try,
        Set,
    }

    private int Validate(ref v4l2_ext_controls payload, ReadOnlySpan<v4l2_ext_control> controls, Operation operation, out int failed)
    {
        failed = -1;
        var which = payload.which;
        // TRY names the failing control; G and S report count, since validation comes before any access.
        var countIndex = payload.count;
        var isClass = which != Constants.V4L2_CTRL_WHICH_CUR_VAL && which != Constants.V4L2_CTRL_WHICH_DEF_VAL;
        if ((isClass && ((which & 0xFFFF) != 0 || !HasClass(which)))
            || (which == Constants.V4L2_CTRL_WHICH_DEF_VAL && operation != Operation.Get))
        {
            // No requests, and default values can only be read.
            payload.error_idx = countIndex;
            return Constants.EINVAL;
        }
        for (var i = 0; i < controls.Length; i++)
        {
            var index = IndexOf(controls[i].id);
            int status;
            if (index < 0 || (isClass && _controls[index].Class != which))
            {
                status = Constants.EINVAL;
            }
            else if (operation == Operation.Get ? _controls[index].IsWriteOnly : _controls[index].IsReadOnly)
            {
                status = Constants.EACCES;
            }
            else if (operation != Operation.Get && !_controls[index].Accepts(controls[i].value))
            {
                status = Constants.ERANGE;
            }
            else
            {
                continue;
            }
            failed = i;
            payload.error_idx = operation == Operation.Try ? (uint)i : countIndex;
            return status;
        }
        return 0;
    }

    private bool HasClass(uint which)
    {
        foreach (var control in _controls)
        {
            if (control.Class == which)
            {
                return true;
            }
        }
        return false;
    }

    private int IndexOf(uint id)
    {
        for (var i = 0; i < _controls.Length; i++)
        {
            if (_controls[i].Id == id)
            {
                return i;
            }
        }
        return -1;
    }

    private int FindForQuery(uint id)
    {
        if ((id & Constants.V4L2_CTRL_FLAG_NEXT_CTRL) != 0)
        {
            var after = id & ~NextFlags;
            for (var i = 0; i < _controls.Length; i++)
            {
                if (_controls[i].Id > after)
                {
                    return i;
                }
            }
            return -1;
        }
        // NEXT_COMPOUND alone walks compound controls, of which there are none.
        return (id & NextFlags) != 0 ? -1 : IndexOf(id);
    }

    private static void WriteName(string name, Span<byte> destination)
    {
        destination.Clear();
        var text = name.Length > destination.Length - 1 ? name.Substring(0, destination.Length - 1) : name;
        Encoding.ASCII.GetBytes(text, destination);
    }

    private static string ClassName(uint controlClass) => controlClass switch
    {
        Constants.V4L2_CTRL_CLASS_USER => "User Controls",
        Constants.V4L2_CTRL_CLASS_CODEC => "Codec Controls",
        Constants.V4L2_CTRL_CLASS_CAMERA => "Camera Controls",
        Constants.V4L2_CTRL_CLASS_FLASH => "Flash Controls",
        Constants.V4L2_CTRL_CLASS_JPEG => "JPEG Compression Controls",
        Constants.V4L2_CTRL_CLASS_IMAGE_SOURCE => "Image Source Controls",
        Constants.V4L2_CTRL_CLASS_IMAGE_PROC => "Image Processing Controls",
        Constants.V4L2_CTRL_CLASS_DV => "Digital Video Controls",
        Constants.V4L2_CTRL_CLASS_DETECT => "Detection Controls",
        Constants.V4L2_CTRL_CLASS_COLORIMETRY => "Colorimetry Controls",
        _ => $"Class 0x{controlClass:X6} Controls",
    };
}
