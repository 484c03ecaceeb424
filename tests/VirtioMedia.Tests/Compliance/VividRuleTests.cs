using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Compliance;
using VirtioMedia.Compliance.Groups;
using VirtioMedia.Compliance.Reporting;
using VirtioMedia.Compliance.Targets;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Samples.Camera;
using VirtioMedia.TestDevices;

namespace VirtioMedia.Tests.Compliance;

/// <summary>
/// What vivid answers and v4l2-compliance 1.22.1 accepts, the suite accepts too: test devices answering as vivid does
/// (its test controls, its webcam input without cropping, its output node without S_PARM) pass the matching tests,
/// and a variant of each breaking the rule v4l2-compliance keeps still fails them.
/// </summary>
[TestClass]
public sealed class VividRuleTests
{
    private const string QueryExt = "test VIDIOC_QUERY_EXT_CTRL/QUERYMENU";
    private const string QueryCtrl = "test VIDIOC_QUERYCTRL";
    private const string SimpleCtrl = "test VIDIOC_G/S_CTRL";
    private const string ExtCtrls = "test VIDIOC_G/S/TRY_EXT_CTRLS";
    private static readonly string[] ControlTestNames = [QueryExt, QueryCtrl, SimpleCtrl, ExtCtrls];

    private static ComplianceOptions Only(params string[] names) => new()
    {
        Streaming = false,
        HostileDriver = false,
        CommandTimeout = TimeSpan.FromSeconds(2),
        TestTimeout = TimeSpan.FromSeconds(10),
        Only = names,
    };

    private static async Task<ComplianceReport> RunControlsAsync(VividControlFault fault)
    {
        var device = new VividControls(fault, new CameraOptions { Fast = true });
        return await ComplianceSuite.RunAsync(ComplianceTarget.InProcess(device.Config, device.CreateHandler), Only("CTRL"));
    }

    private static void AssertOk(ComplianceReport report, params string[] names)
    {
        foreach (var name in names)
        {
            Assert.AreEqual(ComplianceStatus.Ok, report[name].Status, $"{name}: {report[name].Failure}");
        }
    }

    private static void AssertFails(ComplianceReport report, string name, string message)
    {
        Assert.AreEqual(ComplianceStatus.Fail, report[name].Status, name);
        StringAssert.Contains(report[name].Failure, message, name);
    }

    // The device reproduces what made the suite fail on vivid: a flag 0x800, a bitmask that QUERYCTRL and G_CTRL
    // answer negative, a menu whose range starts at 1 with a skipped item.
    [TestMethod]
    public async Task The_vivid_control_device_answers_as_vivid()
    {
        var device = new VividControls();
        using var transport = new InProcessTransport(guestMemorySize: 8 << 20, sharedMemorySize: 8 << 20);
        var endpoint = new DeviceEndpoint(transport, device.Config, device.CreateHandler);
        transport.Config = endpoint.Config;
        var driver = DriverEndpoint.Start(transport.Driver, new DriverEndpointOptions { CommandTimeout = TimeSpan.FromSeconds(5) });
        endpoint.Start();
        try
        {
            var session = await driver.OpenSessionAsync();
            var array = await session.VIDIOC_QUERY_EXT_CTRL(new v4l2_query_ext_ctrl { id = VividControls.DynamicArrayId });
            Assert.AreEqual(0, array.Status);
            Assert.AreEqual(0x0098f90du, array.Payload.id);
            Assert.AreEqual(0x800u, array.Payload.flags & 0x800u);
            Assert.AreEqual(1u, array.Payload.nr_of_dims);
            var bitmask = await session.VIDIOC_QUERY_EXT_CTRL(new v4l2_query_ext_ctrl { id = VividControls.BitmaskId });
            Assert.AreEqual(0x8040_2010L, bitmask.Payload.maximum);
            var plain = await session.VIDIOC_QUERYCTRL(new v4l2_queryctrl { id = VividControls.BitmaskId });
            Assert.IsTrue(plain.Payload.maximum < 0, $"QUERYCTRL maximum {plain.Payload.maximum}");
            var value = await session.VIDIOC_G_CTRL(new v4l2_control { id = VividControls.BitmaskId });
            Assert.AreEqual(-2147475456, value.Payload.value);
            var menu = await session.VIDIOC_QUERY_EXT_CTRL(new v4l2_query_ext_ctrl { id = VividControls.MenuId });
            Assert.AreEqual(1L, menu.Payload.minimum);
            Assert.AreEqual(Constants.EINVAL, (await session.VIDIOC_QUERYMENU(new v4l2_querymenu { id = VividControls.MenuId, index = 2 })).Status);
            // The menu refuses 0, below its range, with ERANGE: what TRY_EXT_CTRLS of an untouched control carries.
            var controls = new[] { new v4l2_ext_control { id = VividControls.MenuId } };
            var extras = new IoctlExtras { Elements = System.Runtime.InteropServices.MemoryMarshal.AsBytes(controls.AsSpan()).ToArray() };
            Assert.AreEqual(Constants.ERANGE, (await session.VIDIOC_TRY_EXT_CTRLS(new v4l2_ext_controls { count = 1 }, extras)).Status);
        }
        finally
        {
            await driver.DisposeAsync();
            await endpoint.DisposeAsync();
        }
    }

    [TestMethod]
    public async Task Vivids_test_controls_pass_the_control_tests()
    {
        var report = await RunControlsAsync(VividControlFault.None);
        AssertOk(report, ControlTestNames);
    }

    // Each broken variant fails the test of the rule it breaks (a bitmask value is checked by G_CTRL and by
    // G_EXT_CTRLS, so that one fails two), and only that.
    [TestMethod]
    [DataRow(VividControlFault.BitmaskValueOutsideMaximum, SimpleCtrl, "G_CTRL value 0x80002001, with bits outside the maximum 0x80402010",
        ExtCtrls, "VIDIOC_G_EXT_CTRLS answered the value 0x80002001, with bits outside the maximum 0x80402010")]
    [DataRow(VividControlFault.UnknownFlag, QueryExt, "control 0x0098f906 has unknown flags 0x10000", null, null)]
    [DataRow(VividControlFault.DynamicArrayAboveDims, QueryExt, "control 0x0098f90d is a dynamic array of 101 elements, above dims[0] = 100", null, null)]
    [DataRow(VividControlFault.QueryCtrlBitmaskMaximumDiffers, QueryCtrl, "disagree on the range or default of control 0x0098f906", null, null)]
    [DataRow(VividControlFault.SkippedMenuItemAccepted, SimpleCtrl, "control 0x0098f904 to 2, an index QUERYMENU does not list, answered 0 (success), expected EINVAL", null, null)]
    [DataRow(VividControlFault.TryRefusesMenuValues, ExtCtrls, "VIDIOC_TRY_EXT_CTRLS of control 0x0098f904 with its current value 3 answered ERANGE", null, null)]
    public async Task A_variant_breaking_a_rule_fails_the_test_of_that_rule(VividControlFault fault, string test, string message, string? otherTest, string? otherMessage)
    {
        var report = await RunControlsAsync(fault);
        AssertFails(report, test, message);
        if (otherTest is not null)
        {
            AssertFails(report, otherTest, otherMessage!);
        }
        AssertOk(report, ControlTestNames.Where(name => name != test && name != otherTest).ToArray());
    }

    // The suite's flag word is every V4L2_CTRL_FLAG_ the ABI headers define, the query flags aside.
    [TestMethod]
    public void The_suite_knows_every_control_flag_of_videodev2_h()
    {
        var header = File.ReadAllText(Path.Combine(Repository.AbiHeaders, "linux-6.1", "linux", "videodev2.h"));
        var flags = Regex.Matches(header, @"^#define\s+(V4L2_CTRL_FLAG_\w+)\s+(0x[0-9a-fA-F]+)", RegexOptions.Multiline)
            .Where(match => match.Groups[1].Value is not ("V4L2_CTRL_FLAG_NEXT_CTRL" or "V4L2_CTRL_FLAG_NEXT_COMPOUND"))
            .Select(match => Convert.ToUInt32(match.Groups[2].Value, 16)).ToArray();
        Assert.IsTrue(flags.Length >= 12, $"{flags.Length} flags");
        Assert.IsTrue(flags.Contains(0x800u), "V4L2_CTRL_FLAG_DYNAMIC_ARRAY");
        var defined = flags.Aggregate(0u, (all, flag) => all | flag);
        Assert.AreEqual(ControlTests.KnownFlags, defined, $"the header defines 0x{defined:x}, the suite knows 0x{ControlTests.KnownFlags:x}");
    }

    private static ComplianceTarget Selections(SelectionBehaviour behaviour)
    {
        var camera = new VirtualCamera(new CameraOptions { Fast = true });
        return ComplianceTarget.InProcess(camera.Config, session => new SelectionRules(camera.CreateHandler(session), behaviour));
    }

    [TestMethod]
    public async Task A_webcam_input_whose_selections_answer_ENODATA_has_no_cropping_or_composing()
    {
        var report = await ComplianceSuite.RunAsync(Selections(SelectionBehaviour.Webcam), Only("Cropping", "Composing", "Scaling"));
        foreach (var name in new[] { "test Cropping", "test Composing", "test Scaling" })
        {
            Assert.AreEqual(ComplianceStatus.NotSupported, report[name].Status, $"{name}: {report[name].Failure}");
        }
        StringAssert.Contains(report["test Cropping"].Notes.Single(), "ENODATA");
    }

    [TestMethod]
    public async Task ENODATA_from_G_SELECTION_while_S_SELECTION_succeeds_fails()
    {
        var report = await ComplianceSuite.RunAsync(Selections(SelectionBehaviour.WebcamThatSetsSelections), Only("Cropping", "Composing"));
        AssertFails(report, "test Cropping", "answered ENODATA, but VIDIOC_S_SELECTION of it succeeded");
        AssertFails(report, "test Composing", "answered ENODATA, but VIDIOC_S_SELECTION of it succeeded");
    }

    [TestMethod]
    public async Task A_cropping_device_passes_the_crop_rules()
    {
        var report = await ComplianceSuite.RunAsync(Selections(SelectionBehaviour.Crop), Only("Cropping", "Composing"));
        AssertOk(report, "test Cropping");
        Assert.AreEqual(ComplianceStatus.NotSupported, report["test Composing"].Status, report["test Composing"].Failure);
    }

    [TestMethod]
    public async Task Cropping_whose_bounds_answer_EINVAL_fails()
    {
        var report = await ComplianceSuite.RunAsync(Selections(SelectionBehaviour.CropWithoutBounds), Only("Cropping"));
        AssertFails(report, "test Cropping", "VIDIOC_G_SELECTION of the bounds target answered EINVAL");
        StringAssert.Contains(report["test Cropping"].Failure, "testBasicCrop");
    }

    private static Task<ComplianceReport> RunParmAsync(OutputParmBehaviour behaviour) => ComplianceSuite.RunAsync(
        OutputDeviceComplianceTests.Target(inner => new OutputParmRules(inner, Constants.V4L2_BUF_TYPE_VIDEO_OUTPUT, behaviour)), Only("PARM"));

    [TestMethod]
    public async Task An_output_whose_S_PARM_answers_ENOTTY_passes_when_it_lists_no_frame_intervals()
    {
        var report = await RunParmAsync(OutputParmBehaviour.SetParmNotSupported);
        AssertOk(report, "test VIDIOC_G/S_PARM");
    }

    [TestMethod]
    public async Task S_PARM_ENOTTY_on_a_node_that_lists_frame_intervals_fails()
    {
        var report = await RunParmAsync(OutputParmBehaviour.SetParmNotSupportedWithIntervals);
        AssertFails(report, "test VIDIOC_G/S_PARM", "VIDIOC_S_PARM(G_PARM) answered ENOTTY although VIDIOC_ENUM_FRAMEINTERVALS lists intervals");
    }

    [TestMethod]
    public async Task S_PARM_answering_EINVAL_fails()
    {
        var report = await RunParmAsync(OutputParmBehaviour.SetParmRefused);
        AssertFails(report, "test VIDIOC_G/S_PARM", "VIDIOC_S_PARM(G_PARM) answered EINVAL");
    }
}
