using System;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// <see cref="ControlSet"/> as a device author meets it: a class control per class in use, in id order, and the
/// G/S/TRY_EXT_CTRLS rules across classes (v4l2-test-controls.cpp: testQueryExtControls, testExtendedControls).
/// </summary>
[TestClass]
public sealed class ControlSetTests
{
    private static readonly ControlDefinition Brightness = new(Constants.V4L2_CID_BRIGHTNESS, "Brightness", v4l2_ctrl_type.V4L2_CTRL_TYPE_INTEGER, 0, 255, 1, 128);
    private static readonly ControlDefinition Exposure = new(Constants.V4L2_CID_EXPOSURE_ABSOLUTE, "Exposure, Absolute", v4l2_ctrl_type.V4L2_CTRL_TYPE_INTEGER, 1, 10000, 1, 100);

    [TestMethod]
    public void Each_class_in_use_gets_its_class_control_in_id_order()
    {
        var set = new ControlSet([Exposure, Brightness]);
        var ids = new uint[set.Controls.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = set.Controls[i].Id;
        }
        CollectionAssert.AreEqual(new uint[] { Constants.V4L2_CID_USER_CLASS, Constants.V4L2_CID_BRIGHTNESS, Constants.V4L2_CID_CAMERA_CLASS, Constants.V4L2_CID_EXPOSURE_ABSOLUTE }, ids);
        var query = new v4l2_query_ext_ctrl { id = Constants.V4L2_CID_BRIGHTNESS | Constants.V4L2_CTRL_FLAG_NEXT_CTRL };
        Assert.AreEqual(0, set.QueryExtControl(ref query));
        Assert.AreEqual(((uint)Constants.V4L2_CID_CAMERA_CLASS, "Camera Controls"), (query.id, System.Text.Encoding.ASCII.GetString(query.name).TrimEnd('\0')));
    }

    [TestMethod]
    public void A_class_as_which_refuses_controls_of_another_class_and_changes_nothing()
    {
        var set = new ControlSet([Brightness, Exposure]);
        var changes = 0;
        set.Changed = (_, _, _) => changes++;
        Span<v4l2_ext_control> controls = [new() { id = Constants.V4L2_CID_EXPOSURE_ABSOLUTE, value = 200 }, new() { id = Constants.V4L2_CID_BRIGHTNESS, value = 10 }];
        var payload = new v4l2_ext_controls { which = Constants.V4L2_CTRL_CLASS_CAMERA, count = 2 };
        Assert.AreEqual((Constants.EINVAL, 2u), (set.SetExtControls(ref payload, controls, null), payload.error_idx), "S reports count");
        payload = new v4l2_ext_controls { which = Constants.V4L2_CTRL_CLASS_CAMERA, count = 2 };
        Assert.AreEqual((Constants.EINVAL, 1u), (set.TryExtControls(ref payload, controls), payload.error_idx), "TRY names the brightness");
        Assert.AreEqual((0, 100, 128), (changes, set.GetValue(Constants.V4L2_CID_EXPOSURE_ABSOLUTE), set.GetValue(Constants.V4L2_CID_BRIGHTNESS)));

        payload = new v4l2_ext_controls { which = Constants.V4L2_CTRL_WHICH_CUR_VAL, count = 2 };
        Assert.AreEqual(0, set.SetExtControls(ref payload, controls, null), "the current value across classes");
        Assert.AreEqual((2, 200, 10), (changes, set.GetValue(Constants.V4L2_CID_EXPOSURE_ABSOLUTE), set.GetValue(Constants.V4L2_CID_BRIGHTNESS)));
        controls[0].value = 0;
        payload = new v4l2_ext_controls { which = Constants.V4L2_CTRL_WHICH_CUR_VAL, count = 2 };
        Assert.AreEqual((Constants.ERANGE, 2u), (set.SetExtControls(ref payload, controls, null), payload.error_idx), "below the minimum");
    }

    [TestMethod]
    public void Definitions_that_break_the_rules_are_refused()
    {
        Assert.ThrowsExactly<ArgumentException>(() => new ControlSet([Brightness, Brightness]));
        Assert.ThrowsExactly<ArgumentException>(() => new ControlSet([Brightness with { Default = 300 }]));
        Assert.ThrowsExactly<ArgumentException>(() => new ControlSet([Brightness with { Id = Constants.V4L2_CTRL_CLASS_USER | 0x10 }]), "ids below 0x900 in a class are not controls");
        Assert.ThrowsExactly<ArgumentException>(() => new ControlSet([new ControlDefinition(Constants.V4L2_CID_USER_CLASS, "User", v4l2_ctrl_type.V4L2_CTRL_TYPE_CTRL_CLASS, 0, 0, 0, 0)]));
    }
}
