using System;
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

    /// <summary>What an input or output is, as ENUMINPUT / ENUMOUTPUT answers it.</summary>
    private readonly record struct Port(int Status, uint Index, string Name, bool Terminated, uint Type, bool ReservedZero);

    /// <summary>The inputs or the outputs of a node: the ioctls to enumerate, get and set them, and which node needs them.</summary>
    private sealed record PortKind(
        string Noun, string Enumerate, string Get, string Set, string Function, bool Needed, bool Forbidden, uint[] Types,
        Func<ComplianceContext, DriverSession, uint, Task<Port>> EnumerateAsync,
        Func<ComplianceContext, DriverSession, Task<(int Status, int Value)>> GetAsync,
        Func<ComplianceContext, DriverSession, int, Task<int>> SetAsync);

    private static Task InputsAsync(ComplianceContext context) => PortsAsync(context, new PortKind(
        "input", "VIDIOC_ENUMINPUT", "VIDIOC_G_INPUT", "VIDIOC_S_INPUT", "testInput", context.Node.CanCapture, context.Node.CanOutput && !context.Node.CanCapture,
        [V4L2_INPUT_TYPE_CAMERA, V4L2_INPUT_TYPE_TUNER, V4L2_INPUT_TYPE_TOUCH],
        async (c, s, index) =>
        {
            var answer = await s.VIDIOC_ENUMINPUT(new v4l2_input { index = index }, null, c.Token).ConfigureAwait(false);
            var input = answer.Payload;
            var (name, terminated) = Probes.Text(input.name);
            return new Port(answer.Status, input.index, name, terminated, input.type, Probes.Bytes(ref input.reserved).IndexOfAnyExcept((byte)0) < 0);
        },
        async (c, s) => { var answer = await s.VIDIOC_G_INPUT(0, null, c.Token).ConfigureAwait(false); return (answer.Status, answer.Payload); },
        async (c, s, value) => (await s.VIDIOC_S_INPUT(value, null, c.Token).ConfigureAwait(false)).Status));

    private static Task OutputsAsync(ComplianceContext context) => PortsAsync(context, new PortKind(
        "output", "VIDIOC_ENUMOUTPUT", "VIDIOC_G_OUTPUT", "VIDIOC_S_OUTPUT", "testOutput", context.Node.CanOutput, context.Node.CanCapture && !context.Node.CanOutput,
        [V4L2_OUTPUT_TYPE_ANALOG, V4L2_OUTPUT_TYPE_MODULATOR, V4L2_OUTPUT_TYPE_ANALOGVGAOVERLAY],
        async (c, s, index) =>
        {
            var answer = await s.VIDIOC_ENUMOUTPUT(new v4l2_output { index = index }, null, c.Token).ConfigureAwait(false);
            var output = answer.Payload;
            var (name, terminated) = Probes.Text(output.name);
            return new Port(answer.Status, output.index, name, terminated, output.type, Probes.Bytes(ref output.reserved).IndexOfAnyExcept((byte)0) < 0);
        },
        async (c, s) => { var answer = await s.VIDIOC_G_OUTPUT(0, null, c.Token).ConfigureAwait(false); return (answer.Status, answer.Payload); },
        async (c, s, value) => (await s.VIDIOC_S_OUTPUT(value, null, c.Token).ConfigureAwait(false)).Status));

    // testInput / testOutput: a node that captures (outputs) enumerates at least one input (output), the list ends in
    // EINVAL, each has a name, a valid type and zeroed reserved fields, G answers one of them, S of it is accepted and
    // S past the last is EINVAL; the other kind of node has none.
    private static async Task PortsAsync(ComplianceContext context, PortKind kind)
    {
        var source = $"{InputSource}, {kind.Function}";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var current = await kind.GetAsync(context, session).ConfigureAwait(false);
        var first = await kind.EnumerateAsync(context, session, 0).ConfigureAwait(false);
        if (first.Status == ENOTTY && current.Status == ENOTTY)
        {
            context.Check(!kind.Needed, $"the node must enumerate its {kind.Noun}s ({kind.Enumerate} answers ENOTTY)", source);
            throw ComplianceContext.NotSupported($"no {kind.Noun}s");
        }
        context.Check(!kind.Forbidden || first.Status != 0, $"this node may not have {kind.Noun}s", source);
        uint count = 0;
        for (; count < Probes.EnumerationLimit; count++)
        {
            var port = count == 0 ? first : await kind.EnumerateAsync(context, session, count).ConfigureAwait(false);
            if (port.Status != 0)
            {
                context.Expect(port.Status, EINVAL, $"{kind.Enumerate} past the last {kind.Noun} ({count})", source);
                break;
            }
            context.Check(port.Index == count, $"{kind.Enumerate} changed the index", source);
            context.Check(port.Terminated && port.Name.Length > 0, $"{kind.Noun} {count} has an empty or unterminated name", source + ", check_ustring");
            context.Check(Array.IndexOf(kind.Types, port.Type) >= 0, $"{kind.Noun} type {port.Type} is invalid", source);
            context.Check(port.ReservedZero, $"{kind.Noun} {count}: reserved is not zeroed", source + ", check_0");
        }
        context.Check(count < Probes.EnumerationLimit, $"{kind.Enumerate} never ends with EINVAL", source);
        context.Check(count > 0, $"the node needs at least one {kind.Noun}", source);
        context.Expect(current.Status, 0, kind.Get, source);
        context.Check(current.Value >= 0 && current.Value < count, $"{kind.Get} answers {current.Value}, not one of the {count} {kind.Noun}s", source);
        context.Expect(await kind.SetAsync(context, session, current.Value).ConfigureAwait(false), 0, $"{kind.Set}(the current {kind.Noun})", source);
        context.Expect(await kind.SetAsync(context, session, (int)count).ConfigureAwait(false), EINVAL, $"{kind.Set}(past the last {kind.Noun})", source);
        context.Note($"{kind.Noun}s: {count}");
    }

    private static async Task StandardsAsync(ComplianceContext context)
    {
        const string source = ConfigSource + ", testStd";
        var session = await context.OpenAsync().ConfigureAwait(false);
        var standard = await session.VIDIOC_G_STD(0, null, context.Token).ConfigureAwait(false);
        var enumerated = await session.VIDIOC_ENUMSTD(new v4l2_standard { index = 0 }, null, context.Token).ConfigureAwait(false);
        if (standard.Status is ENOTTY or ENODATA && enumerated.Status is ENOTTY or ENODATA or EINVAL)
        {
            var set = await session.VIDIOC_S_STD(V4L2_STD_PAL, null, context.Token).ConfigureAwait(false);
            context.Check(set.Status is ENOTTY or ENODATA, $"VIDIOC_S_STD on a node without standards answered {ErrnoNames.Of(set.Status)}, expected ENOTTY or ENODATA", source);
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
