using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Compliance.Running;
using VirtioMedia.Runtime.Driver;
using static VirtioMedia.Abi.Constants;

namespace VirtioMedia.Compliance.Groups;

/// <summary>v4l2-compliance's "Input ioctls", "Output ioctls" and "Input/Output configuration ioctls".</summary>
internal static class InputOutputTests
{
    private const string InputGroup = "Input ioctls";
    private const string OutputGroup = "Output ioctls";
    private const string ConfigGroup = "Input/Output configuration ioctls";
    private const string InputSource = "v4l2-test-input-output.cpp";
    private const string ConfigSource = "v4l2-test-io-config.cpp";

    public static readonly ComplianceTest[] All =
    [
        new(InputGroup, "test VIDIOC_G/S_TUNER/ENUM_FREQ_BANDS", false, c => AbsentAsync(c, async s => (await s.VIDIOC_G_TUNER(default, null, c.Token)).Status, "tuners")),
        new(InputGroup, "test VIDIOC_G/S_FREQUENCY", false, c => AbsentAsync(c, async s => (await s.VIDIOC_G_FREQUENCY(default, null, c.Token)).Status, "tuners")),
        new(InputGroup, "test VIDIOC_S_HW_FREQ_SEEK", false, c => AbsentAsync(c, async s => (await s.VIDIOC_S_HW_FREQ_SEEK(default, null, c.Token)).Status, "hardware seek")),
        new(InputGroup, "test VIDIOC_ENUMAUDIO", false, c => AbsentAsync(c, async s => (await s.VIDIOC_ENUMAUDIO(default, null, c.Token)).Status, "audio inputs")),
        new(InputGroup, "test VIDIOC_G/S/ENUMINPUT", false, InputsAsync),
        new(InputGroup, "test VIDIOC_G/S_AUDIO", false, c => AbsentAsync(c, async s => (await s.VIDIOC_G_AUDIO(default, null, c.Token)).Status, "audio inputs")),
        new(OutputGroup, "test VIDIOC_G/S_MODULATOR", false, c => AbsentAsync(c, async s => (await s.VIDIOC_G_MODULATOR(default, null, c.Token)).Status, "modulators")),
        new(OutputGroup, "test VIDIOC_G/S_FREQUENCY", false, c => AbsentAsync(c, async s => (await s.VIDIOC_G_FREQUENCY(new v4l2_frequency { type = V4L2_TUNER_RF }, null, c.Token)).Status, "modulators")),
        new(OutputGroup, "test VIDIOC_ENUMAUDOUT", false, c => AbsentAsync(c, async s => (await s.VIDIOC_ENUMAUDOUT(default, null, c.Token)).Status, "audio outputs")),
        new(OutputGroup, "test VIDIOC_G/S/ENUMOUTPUT", false, OutputsAsync),
        new(OutputGroup, "test VIDIOC_G/S_AUDOUT", false, c => AbsentAsync(c, async s => (await s.VIDIOC_G_AUDOUT(default, null, c.Token)).Status, "audio outputs")),
        new(ConfigGroup, "test VIDIOC_ENUM/G/S/QUERY_STD", false, StandardsAsync),
        new(ConfigGroup, "test VIDIOC_ENUM/G/S/QUERY_DV_TIMINGS", false, TimingsAsync),
        new(ConfigGroup, "test VIDIOC_DV_TIMINGS_CAP", false, c => AbsentAsync(c, async s => (await s.VIDIOC_DV_TIMINGS_CAP(default, null, c.Token)).Status, "DV timings")),
        new(ConfigGroup, "test VIDIOC_G/S_EDID", false, c => AbsentAsync(c, async s => (await s.VIDIOC_G_EDID(default, null, c.Token)).Status, "EDIDs")),
    ];

    // What the sample devices lack (tuners, modulators, audio, EDIDs): ENOTTY, or EINVAL for the first index, is
    // "Not Supported"; a device that offers one gets only the check that it answers (the full rules are future work).
    private static async Task AbsentAsync(ComplianceContext context, System.Func<DriverSession, Task<int>> call, string what)
    {
        var session = await context.OpenAsync().ConfigureAwait(false);
        var status = await call(session).ConfigureAwait(false);
        if (status is ENOTTY or EINVAL or ENODATA)
        {
            throw ComplianceContext.NotSupported($"no {what} ({ErrnoNames.Of(status)})");
        }
        context.Check(status == 0, $"the call answered {ErrnoNames.Of(status)}, neither success nor ENOTTY/EINVAL", InputSource);
        context.Note($"the device offers {what}; only its first answer was checked");
    }

    private static async Task InputsAsync(ComplianceContext context)
    {
        const string source = InputSource + ", testInput";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var current = await session.VIDIOC_G_INPUT(0, null, context.Token).ConfigureAwait(false);
        var first = await session.VIDIOC_ENUMINPUT(new v4l2_input { index = 0 }, null, context.Token).ConfigureAwait(false);
        if (first.Status == ENOTTY && current.Status == ENOTTY)
        {
            context.Check(!context.Node.CanCapture, "a capture node must enumerate its inputs (VIDIOC_ENUMINPUT answers ENOTTY)", source);
            throw ComplianceContext.NotSupported("no inputs");
        }
        context.Check(context.Node.CanCapture || first.Status != 0, "an output node may not have inputs", source);
        uint count = 0;
        for (; count < Probes.EnumerationLimit; count++)
        {
            var input = await session.VIDIOC_ENUMINPUT(new v4l2_input { index = count }, null, context.Token).ConfigureAwait(false);
            if (input.Status != 0)
            {
                context.Expect(input.Status, EINVAL, $"VIDIOC_ENUMINPUT past the last input ({count})", source);
                break;
            }
            var payload = input.Payload;
            context.Check(payload.index == count, "VIDIOC_ENUMINPUT changed the index", source);
            Probes.CheckString(context, payload.name, "v4l2_input.name", source);
            context.Check(payload.type is V4L2_INPUT_TYPE_CAMERA or V4L2_INPUT_TYPE_TUNER or V4L2_INPUT_TYPE_TOUCH, $"input type {payload.type} is invalid", source);
            Probes.CheckZero(context, Probes.Bytes(ref payload.reserved), "v4l2_input.reserved", source);
        }
        context.Check(count < Probes.EnumerationLimit, "VIDIOC_ENUMINPUT never ends with EINVAL", source);
        context.Check(count > 0, "a capture node needs at least one input", source);
        context.Expect(current.Status, 0, "VIDIOC_G_INPUT", source);
        context.Check(current.Payload < count, $"VIDIOC_G_INPUT answers {current.Payload}, not one of the {count} inputs", source);
        context.Expect((await session.VIDIOC_S_INPUT(current.Payload, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_S_INPUT(the current input)", source);
        context.Expect((await session.VIDIOC_S_INPUT((int)count, null, context.Token).ConfigureAwait(false)).Status, EINVAL, "VIDIOC_S_INPUT(past the last input)", source);
        context.Note($"Inputs: {count}");
    }

    private static async Task OutputsAsync(ComplianceContext context)
    {
        const string source = InputSource + ", testOutput";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var current = await session.VIDIOC_G_OUTPUT(0, null, context.Token).ConfigureAwait(false);
        var first = await session.VIDIOC_ENUMOUTPUT(new v4l2_output { index = 0 }, null, context.Token).ConfigureAwait(false);
        if (first.Status == ENOTTY && current.Status == ENOTTY)
        {
            context.Check(!context.Node.CanOutput, "an output node must enumerate its outputs (VIDIOC_ENUMOUTPUT answers ENOTTY)", source);
            throw ComplianceContext.NotSupported("no outputs");
        }
        context.Check(context.Node.CanOutput || first.Status != 0, "a capture node may not have outputs", source);
        uint count = 0;
        for (; count < Probes.EnumerationLimit; count++)
        {
            var output = await session.VIDIOC_ENUMOUTPUT(new v4l2_output { index = count }, null, context.Token).ConfigureAwait(false);
            if (output.Status != 0)
            {
                context.Expect(output.Status, EINVAL, $"VIDIOC_ENUMOUTPUT past the last output ({count})", source);
                break;
            }
            var payload = output.Payload;
            context.Check(payload.index == count, "VIDIOC_ENUMOUTPUT changed the index", source);
            Probes.CheckString(context, payload.name, "v4l2_output.name", source);
            context.Check(payload.type is V4L2_OUTPUT_TYPE_ANALOG or V4L2_OUTPUT_TYPE_MODULATOR or V4L2_OUTPUT_TYPE_ANALOGVGAOVERLAY, $"output type {payload.type} is invalid", source);
            Probes.CheckZero(context, Probes.Bytes(ref payload.reserved), "v4l2_output.reserved", source);
        }
        context.Check(count < Probes.EnumerationLimit, "VIDIOC_ENUMOUTPUT never ends with EINVAL", source);
        context.Check(count > 0, "an output node needs at least one output", source);
        context.Expect(current.Status, 0, "VIDIOC_G_OUTPUT", source);
        context.Check(current.Payload < count, $"VIDIOC_G_OUTPUT answers {current.Payload}, not one of the {count} outputs", source);
        context.Expect((await session.VIDIOC_S_OUTPUT(current.Payload, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_S_OUTPUT(the current output)", source);
        context.Expect((await session.VIDIOC_S_OUTPUT((int)count, null, context.Token).ConfigureAwait(false)).Status, EINVAL, "VIDIOC_S_OUTPUT(past the last output)", source);
        context.Note($"Outputs: {count}");
    }

    private static async Task StandardsAsync(ComplianceContext context)
    {
        const string source = ConfigSource + ", testStd";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var standard = await session.VIDIOC_G_STD(0, null, context.Token).ConfigureAwait(false);
        var enumerated = await session.VIDIOC_ENUMSTD(new v4l2_standard { index = 0 }, null, context.Token).ConfigureAwait(false);
        if (standard.Status is ENOTTY or ENODATA && enumerated.Status is ENOTTY or ENODATA or EINVAL)
        {
            context.Expect((await session.VIDIOC_S_STD(V4L2_STD_PAL, null, context.Token).ConfigureAwait(false)).Status is ENOTTY or ENODATA ? ENOTTY : EINVAL, ENOTTY,
                "VIDIOC_S_STD on a node without standards", source);
            throw ComplianceContext.NotSupported("no analog TV standards");
        }
        context.Expect(standard.Status, 0, "VIDIOC_G_STD", source);
        context.Check(standard.Payload != 0, "VIDIOC_G_STD answers an empty standard set", source);
        context.Expect(enumerated.Status, 0, "VIDIOC_ENUMSTD(0)", source);
        var standardName = enumerated.Payload;
        Probes.CheckString(context, standardName.name, "v4l2_standard.name", source);
        context.Expect((await session.VIDIOC_S_STD(standard.Payload, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_S_STD(the current standard)", source);
    }

    private static async Task TimingsAsync(ComplianceContext context)
    {
        const string source = ConfigSource + ", testTimings";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var timings = await session.VIDIOC_G_DV_TIMINGS(default, null, context.Token).ConfigureAwait(false);
        var enumerated = await session.VIDIOC_ENUM_DV_TIMINGS(default, null, context.Token).ConfigureAwait(false);
        if (timings.Status is ENOTTY or ENODATA && enumerated.Status is ENOTTY or ENODATA or EINVAL)
        {
            throw ComplianceContext.NotSupported("no DV timings");
        }
        context.Expect(timings.Status, 0, "VIDIOC_G_DV_TIMINGS", source);
        context.Check(timings.Payload.type == V4L2_DV_BT_656_1120, "VIDIOC_G_DV_TIMINGS answers a timings type other than BT.656/1120", source);
        context.Expect((await session.VIDIOC_S_DV_TIMINGS(timings.Payload, null, context.Token).ConfigureAwait(false)).Status, 0, "VIDIOC_S_DV_TIMINGS(the current timings)", source);
    }
}
