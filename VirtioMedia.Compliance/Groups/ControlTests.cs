using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Compliance.Running;
using VirtioMedia.Runtime.Driver;
using static VirtioMedia.Abi.Constants;

namespace VirtioMedia.Compliance.Groups;

/// <summary>v4l2-compliance's "Control ioctls" (v4l2-test-controls.cpp).</summary>
internal static class ControlTests
{
    private const string Group = "Control ioctls";
    private const string Source = "v4l2-test-controls.cpp";
    private const uint NextFlags = V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;

    /// <summary>Every control flag videodev2.h defines (V4L2_CTRL_FLAG_*, the NEXT_CTRL/NEXT_COMPOUND query flags
    /// aside); a test pins this against the header, so a flag the headers gain is known here too.</summary>
    internal const uint KnownFlags = V4L2_CTRL_FLAG_DISABLED | V4L2_CTRL_FLAG_GRABBED | V4L2_CTRL_FLAG_READ_ONLY | V4L2_CTRL_FLAG_UPDATE
        | V4L2_CTRL_FLAG_INACTIVE | V4L2_CTRL_FLAG_SLIDER | V4L2_CTRL_FLAG_WRITE_ONLY | V4L2_CTRL_FLAG_VOLATILE
        | V4L2_CTRL_FLAG_HAS_PAYLOAD | V4L2_CTRL_FLAG_EXECUTE_ON_WRITE | V4L2_CTRL_FLAG_MODIFY_LAYOUT | V4L2_CTRL_FLAG_DYNAMIC_ARRAY;

    public static readonly ComplianceTest[] All =
    [
        new(Group, "test VIDIOC_QUERY_EXT_CTRL/QUERYMENU", false, QueryExtControlsAsync),
        new(Group, "test VIDIOC_QUERYCTRL", false, QueryControlsAsync),
        new(Group, "test VIDIOC_G/S_CTRL", false, SimpleControlsAsync),
        new(Group, "test VIDIOC_G/S/TRY_EXT_CTRLS", false, ExtendedControlsAsync),
        new(Group, "test VIDIOC_(UN)SUBSCRIBE_EVENT/DQEVENT", false, EventsAsync),
        new(Group, "test VIDIOC_G/S_JPEGCOMP", false, JpegCompAsync),
    ];

    /// <summary>Every control QUERY_EXT_CTRL lists with NEXT_CTRL | NEXT_COMPOUND (class controls included), or null
    /// when the device has no QUERY_EXT_CTRL.</summary>
    private static async Task<List<v4l2_query_ext_ctrl>?> ListAsync(ComplianceContext context, DriverSession session)
    {
        var controls = new List<v4l2_query_ext_ctrl>();
        uint id = 0;
        for (var i = 0; i < Probes.EnumerationLimit * 4; i++)
        {
            var answer = await session.VIDIOC_QUERY_EXT_CTRL(new v4l2_query_ext_ctrl { id = id | NextFlags }, null, context.Token).ConfigureAwait(false);
            if (answer.Status == ENOTTY && i == 0)
            {
                return null;
            }
            if (answer.Status != 0)
            {
                context.Expect(answer.Status, EINVAL, "VIDIOC_QUERY_EXT_CTRL past the last control", Source + ", testQueryExtControls");
                return controls;
            }
            context.Check(answer.Payload.id > id, $"VIDIOC_QUERY_EXT_CTRL with NEXT_CTRL after 0x{id:x8} answered 0x{answer.Payload.id:x8}, which is not higher", Source + ", testQueryExtControls");
            controls.Add(answer.Payload);
            id = answer.Payload.id;
        }
        throw new ComplianceFailure($"VIDIOC_QUERY_EXT_CTRL with NEXT_CTRL never ends with EINVAL [{Source}, testQueryExtControls]");
    }

    private static bool IsClass(in v4l2_query_ext_ctrl control) => control.type == V4L2_CTRL_TYPE_CTRL_CLASS;

    private static bool IsPlain(in v4l2_query_ext_ctrl control) => (control.flags & V4L2_CTRL_FLAG_HAS_PAYLOAD) == 0
        && control.type is V4L2_CTRL_TYPE_INTEGER or V4L2_CTRL_TYPE_BOOLEAN or V4L2_CTRL_TYPE_MENU or V4L2_CTRL_TYPE_INTEGER_MENU
            or V4L2_CTRL_TYPE_BITMASK or V4L2_CTRL_TYPE_BUTTON or V4L2_CTRL_TYPE_INTEGER64;

    private static async Task<List<v4l2_query_ext_ctrl>> RequireControlsAsync(ComplianceContext context, DriverSession session)
    {
        var controls = await ListAsync(context, session).ConfigureAwait(false) ?? throw ComplianceContext.NotSupported("VIDIOC_QUERY_EXT_CTRL answers ENOTTY");
        if (controls.Count == 0)
        {
            throw ComplianceContext.NotSupported("the device has no controls");
        }
        return controls;
    }

    private static async Task QueryExtControlsAsync(ComplianceContext context)
    {
        const string source = Source + ", testQueryExtControls";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var controls = await RequireControlsAsync(context, session).ConfigureAwait(false);
        var classes = new HashSet<uint>(controls.Where(c => IsClass(c)).Select(c => c.id & 0x0FFF0000));
        var standard = 0;
        foreach (var listed in controls)
        {
            var control = listed;
            var name = $"control 0x{control.id:x8}";
            Probes.CheckString(context, control.name, name + " name", source);
            // v4l2-compliance 1.22.1 checks no flag word; a flag videodev2.h does not define is the suite's own rule.
            context.Check((control.flags & ~KnownFlags) == 0, $"{name} has unknown flags 0x{control.flags & ~KnownFlags:x}", "videodev2.h (V4L2_CTRL_FLAG_*: a flag the header does not define)");
            Probes.CheckZero(context, Probes.Bytes(ref control.reserved), name + " reserved", source);
            if (IsClass(control))
            {
                context.Check((control.id & 0xFFFF) == 1, $"class control 0x{control.id:x8} must be the class base + 1", source + ", checkQCtrl");
                continue;
            }
            standard++;
            context.Check(classes.Contains(control.id & 0x0FFF0000), $"{name} has no control class control for class 0x{control.id & 0x0FFF0000:x8}", source + " (missing control class)");
            context.Check(control.nr_of_dims == 0 || (control.flags & V4L2_CTRL_FLAG_HAS_PAYLOAD) != 0, $"{name} has dimensions without V4L2_CTRL_FLAG_HAS_PAYLOAD", source + ", checkQCtrl");
            context.Check(control.elems >= 1, $"{name} has 0 elements", source + ", checkQCtrl");
            if ((control.flags & V4L2_CTRL_FLAG_DYNAMIC_ARRAY) != 0)
            {
                // A dynamic array has one dimension, dims[0] its most elements, elems the current count (1..dims[0]).
                // v4l2-compliance 1.22.1 predates the flag; these are its rules from 1.24 on.
                const string dynamic = Source + ", checkExtendedCtrl (V4L2_CTRL_FLAG_DYNAMIC_ARRAY, v4l-utils 1.24 and later)";
                context.Check(control.nr_of_dims == 1, $"{name} is a dynamic array with nr_of_dims {control.nr_of_dims}, not 1", dynamic);
                context.Check(control.elems <= control.dims[0], $"{name} is a dynamic array of {control.elems} elements, above dims[0] = {control.dims[0]}", dynamic);
            }
            switch (control.type)
            {
                case V4L2_CTRL_TYPE_INTEGER:
                case V4L2_CTRL_TYPE_INTEGER64:
                    context.Check(control.minimum <= control.maximum, $"{name}: minimum above maximum", source + ", checkQCtrl");
                    context.Check(control.step > 0, $"{name}: step is 0", source + ", checkQCtrl");
                    context.Check(control.default_value >= control.minimum && control.default_value <= control.maximum, $"{name}: default outside [minimum, maximum]", source + ", checkQCtrl");
                    context.Check((ulong)(control.default_value - control.minimum) % control.step == 0, $"{name}: default is not minimum + a multiple of step", source + ", checkQCtrl");
                    break;
                case V4L2_CTRL_TYPE_BOOLEAN:
                    context.Check(control.minimum == 0 && control.maximum == 1 && control.step == 1, $"{name}: a boolean must be 0..1 step 1", source + ", checkQCtrl");
                    context.Check(control.default_value is 0 or 1, $"{name}: a boolean default must be 0 or 1", source + ", checkQCtrl");
                    break;
                case V4L2_CTRL_TYPE_MENU:
                case V4L2_CTRL_TYPE_INTEGER_MENU:
                    context.Check(control.minimum >= 0 && control.minimum <= control.maximum, $"{name}: menu range is invalid", source + ", checkQCtrl");
                    await CheckMenuAsync(context, session, control, name).ConfigureAwait(false);
                    break;
                case V4L2_CTRL_TYPE_BUTTON:
                    context.Check((control.flags & V4L2_CTRL_FLAG_WRITE_ONLY) != 0, $"{name}: a button must be write-only", source + ", checkQCtrl");
                    break;
                case V4L2_CTRL_TYPE_BITMASK:
                    // A bitmask has no range: maximum is the mask of the bits it has, minimum and step are 0.
                    context.Check(control.minimum == 0, $"{name}: minimum must be 0 for a bitmask control", source + ", checkQCtrl");
                    context.Check(control.step == 0, $"{name}: step must be 0 for a bitmask control", source + ", checkQCtrl");
                    context.Check(control.maximum != 0, $"{name}: maximum must be non-zero for a bitmask control", source + ", checkQCtrl");
                    context.Check((control.default_value & ~control.maximum) == 0, $"{name}: default 0x{control.default_value:x} has bits outside the maximum 0x{control.maximum:x}", source + ", checkQCtrl");
                    break;
                case V4L2_CTRL_TYPE_STRING:
                    break;
                default:
                    context.Check((control.flags & V4L2_CTRL_FLAG_HAS_PAYLOAD) != 0 || control.type < 0x100, $"{name}: type {control.type} is unknown", source + ", checkQCtrl");
                    break;
            }
            if (control.type != V4L2_CTRL_TYPE_MENU && control.type != V4L2_CTRL_TYPE_INTEGER_MENU)
            {
                var menu = await session.VIDIOC_QUERYMENU(new v4l2_querymenu { id = control.id, index = 0 }, null, context.Token).ConfigureAwait(false);
                context.Expect(menu.Status, EINVAL, $"VIDIOC_QUERYMENU of {name}, which is no menu", source);
            }
        }
        var missing = await session.VIDIOC_QUERY_EXT_CTRL(new v4l2_query_ext_ctrl { id = 0 }, null, context.Token).ConfigureAwait(false);
        context.Expect(missing.Status, EINVAL, "VIDIOC_QUERY_EXT_CTRL of id 0 without NEXT_CTRL", source);
        context.Note($"Standard Controls: {standard}, control classes: {classes.Count}");
    }

    private static async Task CheckMenuAsync(ComplianceContext context, DriverSession session, v4l2_query_ext_ctrl control, string name)
    {
        const string source = Source + ", checkQCtrl (VIDIOC_QUERYMENU)";
        var valid = 0;
        var defaultValid = false;
        // Every index from 0 to one past the maximum: those outside [minimum, maximum] must answer EINVAL, those inside
        // either an item or EINVAL (a skipped item); any other answer is wrong.
        var last = Math.Min(control.maximum + 1, control.minimum + Probes.EnumerationLimit);
        for (long index = 0; index <= last; index++)
        {
            var menu = await session.VIDIOC_QUERYMENU(new v4l2_querymenu { id = control.id, index = (uint)index }, null, context.Token).ConfigureAwait(false);
            if (menu.Status == EINVAL)
            {
                continue;
            }
            context.Expect(menu.Status, 0, $"VIDIOC_QUERYMENU of {name} index {index}", source);
            context.Check(index >= control.minimum && index <= control.maximum, $"VIDIOC_QUERYMENU of {name} answered an item at index {index}, outside [{control.minimum}, {control.maximum}]", source);
            context.Check(menu.Payload.id == control.id && menu.Payload.index == index, $"VIDIOC_QUERYMENU of {name} changed id or index", source);
            context.Check(menu.Payload.reserved == 0, $"VIDIOC_QUERYMENU of {name} index {index}: reserved is not zero", source);
            if (control.type == V4L2_CTRL_TYPE_MENU)
            {
                var item = menu.Payload;
                Probes.CheckString(context, item.name, $"{name} menu item {index}", source);
            }
            valid++;
            defaultValid |= index == control.default_value;
        }
        context.Check(valid > 0, $"{name}: no menu item is valid", source);
        context.Check(defaultValid, $"{name}: the default is not a valid menu item", source);
    }

    /// <summary>The menu items of <paramref name="control"/> QUERYMENU answers, as a mask of indices below 64 (the items
    /// v4l2-compliance's testSimpleControls sets, its menu_mask).</summary>
    private static async Task<ulong> MenuMaskAsync(ComplianceContext context, DriverSession session, v4l2_query_ext_ctrl control)
    {
        ulong mask = 0;
        for (var index = Math.Max(control.minimum, 0); index <= Math.Min(control.maximum, 63); index++)
        {
            var menu = await session.VIDIOC_QUERYMENU(new v4l2_querymenu { id = control.id, index = (uint)index }, null, context.Token).ConfigureAwait(false);
            if (menu.Status == 0)
            {
                mask |= 1UL << (int)index;
            }
        }
        return mask;
    }

    private static bool IsMenu(in v4l2_query_ext_ctrl control) => control.type is V4L2_CTRL_TYPE_MENU or V4L2_CTRL_TYPE_INTEGER_MENU;

    /// <summary>
    /// Whether <paramref name="value"/>, read from or answered for <paramref name="control"/>, is one it can hold
    /// (checkSimpleCtrl, checkExtendedCtrl): within [minimum, maximum] for the integer, boolean and menu types; for a
    /// bitmask, whose 32 bits travel as a signed int, no bit outside maximum (bit 31 makes the int negative).
    /// </summary>
    private static bool Holds(in v4l2_query_ext_ctrl control, long value) => control.type switch
    {
        V4L2_CTRL_TYPE_BITMASK => ((long)(uint)value & ~control.maximum) == 0,
        V4L2_CTRL_TYPE_INTEGER or V4L2_CTRL_TYPE_INTEGER64 or V4L2_CTRL_TYPE_BOOLEAN or V4L2_CTRL_TYPE_MENU or V4L2_CTRL_TYPE_INTEGER_MENU =>
            value >= control.minimum && value <= control.maximum,
        _ => true,
    };

    private static string Describe(in v4l2_query_ext_ctrl control, long value) => control.type == V4L2_CTRL_TYPE_BITMASK
        ? $"0x{(uint)value:x8}, with bits outside the maximum 0x{control.maximum:x}"
        : $"{value} outside [minimum, maximum]";

    private static async Task QueryControlsAsync(ComplianceContext context)
    {
        const string source = Source + ", testQueryControls";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var controls = await RequireControlsAsync(context, session).ConfigureAwait(false);
        foreach (var extended in controls)
        {
            var answer = await session.VIDIOC_QUERYCTRL(new v4l2_queryctrl { id = extended.id }, null, context.Token).ConfigureAwait(false);
            var name = $"control 0x{extended.id:x8}";
            if (extended.type >= V4L2_CTRL_COMPOUND_TYPES || extended.type == V4L2_CTRL_TYPE_INTEGER64)
            {
                continue; // VIDIOC_QUERYCTRL cannot describe these
            }
            context.Expect(answer.Status, 0, $"VIDIOC_QUERYCTRL of {name}", source);
            var plain = answer.Payload;
            context.Check(plain.type == extended.type && plain.flags == extended.flags, $"VIDIOC_QUERYCTRL and VIDIOC_QUERY_EXT_CTRL disagree on the type or flags of {name}", source);
            context.Check(Probes.Text(plain.name).Text == Probes.Text(extended.name).Text, $"VIDIOC_QUERYCTRL and VIDIOC_QUERY_EXT_CTRL disagree on the name of {name}", source);
            if (!IsClass(extended))
            {
                context.Check(SameRange(plain, extended),
                    $"VIDIOC_QUERYCTRL and VIDIOC_QUERY_EXT_CTRL disagree on the range or default of {name} (QUERYCTRL {plain.minimum}..{plain.maximum} step {plain.step} default {plain.default_value}, QUERY_EXT_CTRL {extended.minimum}..{extended.maximum} step {extended.step} default {extended.default_value})",
                    "Linux v4l2_queryctrl (v4l2-ctrls-api.c: QUERYCTRL's 32-bit fields are QUERY_EXT_CTRL's, a bitmask's read as unsigned)");
            }
            // QUERYCTRL's answer keeps checkQCtrl's range rules as QUERY_EXT_CTRL's does: an integer step is never 0.
            context.Check(plain.type is not (V4L2_CTRL_TYPE_INTEGER or V4L2_CTRL_TYPE_BOOLEAN or V4L2_CTRL_TYPE_MENU or V4L2_CTRL_TYPE_INTEGER_MENU) || plain.step > 0,
                $"VIDIOC_QUERYCTRL of {name}: step is 0", Source + ", checkQCtrl (step == 0)");
            Probes.CheckZero(context, Probes.Bytes(ref plain.reserved), $"{name} reserved", source);
        }
        // The old-style walk over the user class finds the same user controls.
        var userControls = controls.Count(c => !IsClass(c) && (c.id & 0x0FFF0000) == V4L2_CTRL_CLASS_USER && c.id < V4L2_CID_LASTP1);
        var found = 0;
        for (var id = (uint)V4L2_CID_BASE; id < V4L2_CID_LASTP1; id++)
        {
            if ((await session.VIDIOC_QUERYCTRL(new v4l2_queryctrl { id = id }, null, context.Token).ConfigureAwait(false)).Status == 0)
            {
                found++;
            }
        }
        context.Check(found == userControls, $"the V4L2_CID_BASE..LASTP1 walk finds {found} controls, NEXT_CTRL {userControls}", source);
        var past = await session.VIDIOC_QUERYCTRL(new v4l2_queryctrl { id = V4L2_CID_LASTP1 }, null, context.Token).ConfigureAwait(false);
        context.Check(past.Status != 0, "VIDIOC_QUERYCTRL of V4L2_CID_LASTP1, which is no control, succeeded", source);
    }

    /// <summary>
    /// Whether QUERYCTRL's range and default are QUERY_EXT_CTRL's. The kernel answers QUERYCTRL from QUERY_EXT_CTRL,
    /// storing each 64-bit field in the 32-bit one; the integer, boolean, menu and string types have 32-bit ranges, so
    /// they must be equal, while a bitmask's fields are 32-bit masks (vivid's maximum 0x80402010), which QUERYCTRL's
    /// signed fields hold as negative numbers when bit 31 is set: they are compared as unsigned 32-bit values.
    /// v4l2-compliance 1.22.1's testQueryControls compares no range; the suite keeps this relation, which it accepts.
    /// </summary>
    private static bool SameRange(in v4l2_queryctrl plain, in v4l2_query_ext_ctrl extended) => extended.type == V4L2_CTRL_TYPE_BITMASK
        ? (long)(uint)plain.minimum == extended.minimum && (long)(uint)plain.maximum == extended.maximum
            && (ulong)(uint)plain.step == extended.step && (long)(uint)plain.default_value == extended.default_value
        : plain.minimum == extended.minimum && plain.maximum == extended.maximum && (ulong)plain.step == extended.step && plain.default_value == extended.default_value;

    private static async Task SimpleControlsAsync(ComplianceContext context)
    {
        const string source = Source + ", testSimpleControls";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var controls = await RequireControlsAsync(context, session).ConfigureAwait(false);
        foreach (var control in controls.Where(c => c.type < V4L2_CTRL_COMPOUND_TYPES && !IsSkipped(context, c)))
        {
            var name = $"control 0x{control.id:x8}";
            var got = await session.VIDIOC_G_CTRL(new v4l2_control { id = control.id }, null, context.Token).ConfigureAwait(false);
            if (control.type is V4L2_CTRL_TYPE_INTEGER64 or V4L2_CTRL_TYPE_STRING or V4L2_CTRL_TYPE_CTRL_CLASS)
            {
                // VIDIOC_G/S_CTRL cannot carry these types.
                context.Check(got.Status == EINVAL || ((control.flags & V4L2_CTRL_FLAG_WRITE_ONLY) != 0 && got.Status == EACCES), $"g_ctrl allowed for unsupported type ({name})", source);
                var refused = await session.VIDIOC_S_CTRL(new v4l2_control { id = control.id }, null, context.Token).ConfigureAwait(false);
                context.Check(refused.Status == EINVAL || ((control.flags & V4L2_CTRL_FLAG_READ_ONLY) != 0 && refused.Status == EACCES), $"s_ctrl allowed for unsupported type ({name})", source);
                continue;
            }
            var value = got.Payload.value;
            if ((control.flags & V4L2_CTRL_FLAG_WRITE_ONLY) != 0)
            {
                context.Expect(got.Status, EACCES, $"VIDIOC_G_CTRL of write-only {name}", source);
                value = (int)control.default_value;
            }
            else
            {
                context.Expect(got.Status, 0, $"VIDIOC_G_CTRL of {name}", source);
                context.Check(Holds(control, value), $"{name}: G_CTRL value {Describe(control, value)}", source + ", checkSimpleCtrl");
            }
            // Set the current value (the default for write-only controls, such as buttons: pressed once).
            var set = await session.VIDIOC_S_CTRL(new v4l2_control { id = control.id, value = value }, null, context.Token).ConfigureAwait(false);
            if ((control.flags & V4L2_CTRL_FLAG_READ_ONLY) != 0)
            {
                context.Expect(set.Status, EACCES, $"VIDIOC_S_CTRL of read-only {name}", source);
                continue;
            }
            context.Expect(set.Status, 0, $"VIDIOC_S_CTRL of {name} to its current value", source);
            context.Check(Holds(control, set.Payload.value), $"{name}: VIDIOC_S_CTRL answered the value {Describe(control, set.Payload.value)}", source + ", checkSimpleCtrl (s_ctrl returned invalid control contents)");
            if (control.type is V4L2_CTRL_TYPE_BUTTON || (control.flags & V4L2_CTRL_FLAG_WRITE_ONLY) != 0)
            {
                continue;
            }
            // Out of range: clamped (or refused with ERANGE), never stored as given. As testSimpleControls, only where
            // minimum - 1 and maximum + 1 fit the 32-bit value; a bitmask's outside value loses the bits it lacks.
            foreach (var outside in new[] { control.minimum - 1, control.maximum + 1 })
            {
                if (outside < int.MinValue || outside > int.MaxValue)
                {
                    continue;
                }
                var answer = await session.VIDIOC_S_CTRL(new v4l2_control { id = control.id, value = (int)outside }, null, context.Token).ConfigureAwait(false);
                context.Check(answer.Status is 0 or ERANGE, $"VIDIOC_S_CTRL of {name} to {outside}, outside its range, answered {ErrnoNames.Of(answer.Status)} (invalid range check)", source);
                // A success answers the value the control took (the clamped one), which lies in the range.
                context.Check(answer.Status != 0 || Holds(control, answer.Payload.value),
                    $"{name}: VIDIOC_S_CTRL to {outside} answered success with the value {Describe(control, answer.Payload.value)}", source + ", checkSimpleCtrl (returned control value out of range)");
                var back = await session.VIDIOC_G_CTRL(new v4l2_control { id = control.id }, null, context.Token).ConfigureAwait(false);
                context.Check(Holds(control, back.Payload.value), $"{name}: an out-of-range value was stored ({back.Payload.value})", source + ", checkSimpleCtrl");
            }
            if (IsMenu(control))
            {
                // Each item QUERYMENU lists can be set; each index between minimum and maximum it does not list (a
                // skipped item) is refused with EINVAL (testSimpleControls, "check menu items"; items above 63 are
                // left out, as there).
                var items = await MenuMaskAsync(context, session, control).ConfigureAwait(false);
                for (var index = Math.Max(control.minimum, 0); index <= Math.Min(control.maximum, 63); index++)
                {
                    var moved = await session.VIDIOC_S_CTRL(new v4l2_control { id = control.id, value = (int)index }, null, context.Token).ConfigureAwait(false);
                    if ((items & (1UL << (int)index)) == 0)
                    {
                        context.Check(moved.Status == EINVAL, $"VIDIOC_S_CTRL of {name} to {index}, an index QUERYMENU does not list, answered {ErrnoNames.Of(moved.Status)}, expected EINVAL", source + " (could set invalid menu item)");
                        continue;
                    }
                    context.Expect(moved.Status, 0, $"VIDIOC_S_CTRL of {name} to menu item {index}", source + " (could not set valid menu item)");
                    await CheckReadBackAsync(context, session, control, index, name, source).ConfigureAwait(false);
                }
            }
            else
            {
                // At least the minimum, the maximum and the default can be set.
                foreach (var target in new[] { control.minimum, control.maximum, control.default_value })
                {
                    var moved = await session.VIDIOC_S_CTRL(new v4l2_control { id = control.id, value = (int)target }, null, context.Token).ConfigureAwait(false);
                    context.Expect(moved.Status, 0, $"VIDIOC_S_CTRL of {name} to {target}", source);
                    await CheckReadBackAsync(context, session, control, target, name, source).ConfigureAwait(false);
                }
            }
            await session.VIDIOC_S_CTRL(new v4l2_control { id = control.id, value = value }, null, context.Token).ConfigureAwait(false);
        }
        context.Expect((await session.VIDIOC_G_CTRL(new v4l2_control { id = 0 }, null, context.Token).ConfigureAwait(false)).Status, EINVAL, "VIDIOC_G_CTRL of id 0", source);
        context.Expect((await session.VIDIOC_S_CTRL(new v4l2_control { id = 0 }, null, context.Token).ConfigureAwait(false)).Status, EINVAL, "VIDIOC_S_CTRL of id 0", source);
    }

    /// <summary>A value just set reads back (unless the control is volatile); compared as the 32 bits S_CTRL carried,
    /// so a bitmask's maximum with bit 31 set is the negative int it travelled as.</summary>
    private static async Task CheckReadBackAsync(ComplianceContext context, DriverSession session, v4l2_query_ext_ctrl control, long target, string name, string source)
    {
        if ((control.flags & V4L2_CTRL_FLAG_VOLATILE) != 0)
        {
            return;
        }
        var back = await session.VIDIOC_G_CTRL(new v4l2_control { id = control.id }, null, context.Token).ConfigureAwait(false);
        context.Check(back.Payload.value == (int)target, $"{name}: set to {target}, G_CTRL answers {back.Payload.value}", source);
    }

    // v4l2-compliance leaves vivid's own control class alone (its buttons disconnect the device, among others); a
    // card naming vivid (the driver itself, or a proxy of it) is treated the same.
    private const uint VividClass = 0x00F0_0000;

    private static bool IsSkipped(ComplianceContext context, in v4l2_query_ext_ctrl control) =>
        (control.id & 0x0FFF0000) == VividClass && context.Node.Card.Contains("vivid", StringComparison.OrdinalIgnoreCase);

    private static IoctlExtras Elements(v4l2_ext_control[] controls) => new() { Elements = MemoryMarshal.AsBytes(controls.AsSpan()).ToArray() };

    /// <summary>The controls of <paramref name="extras"/> as the device left them (the array is updated in place).</summary>
    private static Span<v4l2_ext_control> ElementsOf(IoctlExtras extras) => MemoryMarshal.Cast<byte, v4l2_ext_control>(extras.Elements.Span);

    private static long ExtValue(in v4l2_query_ext_ctrl control, in v4l2_ext_control value) => control.type == V4L2_CTRL_TYPE_INTEGER64 ? value.value64 : value.value;

    private static async Task ExtendedControlsAsync(ComplianceContext context)
    {
        const string source = Source + ", testExtendedControls";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var controls = await RequireControlsAsync(context, session).ConfigureAwait(false);
        var empty = await session.VIDIOC_G_EXT_CTRLS(new v4l2_ext_controls { which = V4L2_CTRL_WHICH_CUR_VAL }, null, context.Token).ConfigureAwait(false);
        context.Expect(empty.Status, 0, "VIDIOC_G_EXT_CTRLS with count 0", source);
        var plain = controls.Where(c => IsPlain(c) && !IsSkipped(context, c) && (c.flags & (V4L2_CTRL_FLAG_WRITE_ONLY | V4L2_CTRL_FLAG_READ_ONLY)) == 0 && c.type != V4L2_CTRL_TYPE_BUTTON).ToArray();
        foreach (var control in plain)
        {
            var name = $"control 0x{control.id:x8}";
            var which = (control.id & 1) != 0 ? V4L2_CTRL_WHICH_CUR_VAL : control.id & 0x0FFF0000;
            // One element array for G, TRY and S: the device writes the current value into it, and TRY and S then
            // carry that value, as testExtendedControls tries and sets the value it read (a control whose range
            // excludes 0, such as a menu starting at 1, would refuse an untouched 0 with ERANGE).
            var one = Elements([new v4l2_ext_control { id = control.id }]);
            context.Expect((await session.VIDIOC_G_EXT_CTRLS(new v4l2_ext_controls { which = which, count = 1 }, one, context.Token).ConfigureAwait(false)).Status, 0, $"VIDIOC_G_EXT_CTRLS of {name}", source);
            var current = ElementsOf(one)[0];
            context.Check(Holds(control, ExtValue(control, current)), $"{name}: VIDIOC_G_EXT_CTRLS answered the value {Describe(control, ExtValue(control, current))}", source + ", checkExtendedCtrl");
            context.Expect((await session.VIDIOC_TRY_EXT_CTRLS(new v4l2_ext_controls { which = which, count = 1 }, one, context.Token).ConfigureAwait(false)).Status, 0, $"VIDIOC_TRY_EXT_CTRLS of {name} with its current value {ExtValue(control, current)}", source);
            context.Expect((await session.VIDIOC_S_EXT_CTRLS(new v4l2_ext_controls { which = which, count = 1 }, one, context.Token).ConfigureAwait(false)).Status, 0, $"VIDIOC_S_EXT_CTRLS of {name} with its current value {ExtValue(control, current)}", source);
            var answered = ElementsOf(one)[0];
            context.Check(Holds(control, ExtValue(control, answered)), $"{name}: VIDIOC_S_EXT_CTRLS answered the value {Describe(control, ExtValue(control, answered))}", source + ", checkExtendedCtrl (s_ext_ctrls returned invalid control contents)");
        }

        // An invalid id: G answers EINVAL with error_idx <= count, TRY with error_idx 0 (the failing control),
        // S with error_idx == count (nothing was applied).
        var invalid = new[] { new v4l2_ext_control { id = 0 } };
        var g = await session.VIDIOC_G_EXT_CTRLS(new v4l2_ext_controls { count = 1, error_idx = 77 }, Elements(invalid), context.Token).ConfigureAwait(false);
        context.Expect(g.Status, EINVAL, "VIDIOC_G_EXT_CTRLS of control id 0", source);
        context.Check(g.Payload.error_idx <= 1, $"VIDIOC_G_EXT_CTRLS of an invalid id set error_idx {g.Payload.error_idx}, above count", source);
        if (g.Payload.error_idx != 1)
        {
            context.Warn($"g_ext_ctrls(0) invalid error_idx {g.Payload.error_idx}");
        }
        var t = await session.VIDIOC_TRY_EXT_CTRLS(new v4l2_ext_controls { count = 1, error_idx = 77 }, Elements(invalid), context.Token).ConfigureAwait(false);
        context.Expect(t.Status, EINVAL, "VIDIOC_TRY_EXT_CTRLS of control id 0", source);
        context.Check(t.Payload.error_idx == 0, $"try_ext_ctrls(0) invalid error_idx {t.Payload.error_idx}", source);
        var s = await session.VIDIOC_S_EXT_CTRLS(new v4l2_ext_controls { count = 1, error_idx = 77 }, Elements(invalid), context.Token).ConfigureAwait(false);
        context.Expect(s.Status, EINVAL, "VIDIOC_S_EXT_CTRLS of control id 0", source);
        context.Check(s.Payload.error_idx == 1, $"s_ext_ctrls(0) invalid error_idx {s.Payload.error_idx}", source);

        if (plain.Length == 0)
        {
            return;
        }
        // As for one control: TRY and S of all carry the values G of all answered.
        var count = (uint)plain.Length;
        var all = Elements(plain.Select(c => new v4l2_ext_control { id = c.id }).ToArray());
        var got = await session.VIDIOC_G_EXT_CTRLS(new v4l2_ext_controls { which = V4L2_CTRL_WHICH_CUR_VAL, count = count }, all, context.Token).ConfigureAwait(false);
        context.Expect(got.Status, 0, "VIDIOC_G_EXT_CTRLS of all controls", source);
        context.Expect((await session.VIDIOC_TRY_EXT_CTRLS(new v4l2_ext_controls { which = V4L2_CTRL_WHICH_CUR_VAL, count = count }, all, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_TRY_EXT_CTRLS of all controls (with their current values)", source);
        var classes = plain.Select(c => c.id & 0x0FFF0000).Distinct().Count();
        if (classes == 1)
        {
            var which = plain[0].id & 0x0FFF0000;
            context.Expect((await session.VIDIOC_G_EXT_CTRLS(new v4l2_ext_controls { which = which, count = count }, all, context.Token).ConfigureAwait(false)).Status, 0, "could not get all controls of a specific class", source);
        }
        // Default values: readable, but neither settable nor triable.
        var defaults = plain.Select(c => new v4l2_ext_control { id = c.id }).ToArray();
        var def = await session.VIDIOC_G_EXT_CTRLS(new v4l2_ext_controls { which = V4L2_CTRL_WHICH_DEF_VAL, count = (uint)defaults.Length }, Elements(defaults), context.Token).ConfigureAwait(false);
        context.Expect(def.Status, 0, "VIDIOC_G_EXT_CTRLS(V4L2_CTRL_WHICH_DEF_VAL)", source);
        context.Check((await session.VIDIOC_S_EXT_CTRLS(new v4l2_ext_controls { which = V4L2_CTRL_WHICH_DEF_VAL, count = (uint)defaults.Length }, Elements(defaults), context.Token).ConfigureAwait(false)).Status != 0,
            "VIDIOC_S_EXT_CTRLS(V4L2_CTRL_WHICH_DEF_VAL) must fail", source);
        context.Check((await session.VIDIOC_TRY_EXT_CTRLS(new v4l2_ext_controls { which = V4L2_CTRL_WHICH_DEF_VAL, count = (uint)defaults.Length }, Elements(defaults), context.Token).ConfigureAwait(false)).Status != 0,
            "VIDIOC_TRY_EXT_CTRLS(V4L2_CTRL_WHICH_DEF_VAL) must fail", source);
        var set = await session.VIDIOC_S_EXT_CTRLS(new v4l2_ext_controls { which = V4L2_CTRL_WHICH_CUR_VAL, count = count }, all, context.Token).ConfigureAwait(false);
        context.Expect(set.Status, 0, "could not set all controls (to their current values)", source);
    }

    private static async Task EventsAsync(ComplianceContext context)
    {
        const string source = Source + ", testEvents";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var controls = await RequireControlsAsync(context, session).ConfigureAwait(false);
        var target = controls.FirstOrDefault(c => IsPlain(c) && !IsSkipped(context, c) && c.type == V4L2_CTRL_TYPE_INTEGER && (c.flags & (V4L2_CTRL_FLAG_READ_ONLY | V4L2_CTRL_FLAG_WRITE_ONLY)) == 0 && c.maximum > c.minimum);
        var subscribed = await session.VIDIOC_SUBSCRIBE_EVENT(new v4l2_event_subscription { type = V4L2_EVENT_CTRL, id = controls.First(c => !IsClass(c)).id, flags = V4L2_EVENT_SUB_FL_SEND_INITIAL }, null, context.Token).ConfigureAwait(false);
        if (subscribed.Status == ENOTTY)
        {
            throw ComplianceContext.NotSupported("VIDIOC_SUBSCRIBE_EVENT answers ENOTTY");
        }
        context.Expect(subscribed.Status, 0, "VIDIOC_SUBSCRIBE_EVENT(V4L2_EVENT_CTRL, SEND_INITIAL)", source);
        var initial = await ReadEventAsync(context, session).ConfigureAwait(false);
        context.Check(initial is { type: V4L2_EVENT_CTRL }, "no initial V4L2_EVENT_CTRL after subscribing with V4L2_EVENT_SUB_FL_SEND_INITIAL", source);
        context.Expect((await session.VIDIOC_UNSUBSCRIBE_EVENT(new v4l2_event_subscription { type = V4L2_EVENT_ALL }, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_UNSUBSCRIBE_EVENT(V4L2_EVENT_ALL)", source);
        var unknown = await session.VIDIOC_SUBSCRIBE_EVENT(new v4l2_event_subscription { type = 0x7FFF_0000 }, null, context.Token).ConfigureAwait(false);
        context.Check(unknown.Status != 0, "VIDIOC_SUBSCRIBE_EVENT accepted an unknown event type", source);
        if (target.id == 0)
        {
            return;
        }
        // A change through another open reaches the subscriber with the new value (the control framework's rule).
        var other = await context.OpenAsync().ConfigureAwait(false);
        context.Expect((await session.VIDIOC_SUBSCRIBE_EVENT(new v4l2_event_subscription { type = V4L2_EVENT_CTRL, id = target.id }, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_SUBSCRIBE_EVENT(V4L2_EVENT_CTRL)", source);
        var current = (await session.VIDIOC_G_CTRL(new v4l2_control { id = target.id }, null, context.Token).ConfigureAwait(false)).Payload.value;
        var changed = current == target.maximum ? (int)target.minimum : (int)target.maximum;
        context.Expect((await other.VIDIOC_S_CTRL(new v4l2_control { id = target.id, value = changed }, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_S_CTRL from another open", source);
        var change = await ReadEventAsync(context, session).ConfigureAwait(false);
        await other.VIDIOC_S_CTRL(new v4l2_control { id = target.id, value = current }, null, context.Token).ConfigureAwait(false);
        context.Check(change is { type: V4L2_EVENT_CTRL }, $"no V4L2_EVENT_CTRL after control 0x{target.id:x8} changed through another open", source);
        var payload = change!.Value;
        context.Check(payload.id == target.id, $"the V4L2_EVENT_CTRL names control 0x{payload.id:x8}, not 0x{target.id:x8}", source);
        context.Check((payload.u.ctrl.changes & V4L2_EVENT_CTRL_CH_VALUE) != 0 && payload.u.ctrl.value == changed, "the V4L2_EVENT_CTRL does not carry the new value", source);
    }

    private static async Task<v4l2_event?> ReadEventAsync(ComplianceContext context, DriverSession session)
    {
        try
        {
            return await session.Events.ReadAsync(context.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(2), context.Token).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    private static async Task JpegCompAsync(ComplianceContext context)
    {
        var session = await context.OpenAsync().ConfigureAwait(false);
        var answer = await session.VIDIOC_G_JPEGCOMP(default, null, context.Token).ConfigureAwait(false);
        context.Expect(answer.Status, ENOTTY, "VIDIOC_G_JPEGCOMP", "spec: Unsupported ioctls (replaced by the JPEG class controls)");
        throw ComplianceContext.NotSupported("VIDIOC_G/S_JPEGCOMP answer ENOTTY, as the specification requires");
    }
}
