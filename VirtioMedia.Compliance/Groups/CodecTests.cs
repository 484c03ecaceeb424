using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Compliance.Running;
using static VirtioMedia.Abi.Constants;

namespace VirtioMedia.Compliance.Groups;

/// <summary>v4l2-compliance's "Codec ioctls": a capture or output node that is no codec answers ENOTTY.</summary>
internal static class CodecTests
{
    private const string Group = "Codec ioctls";

    public static readonly ComplianceTest[] All =
    [
        new(Group, "test VIDIOC_(TRY_)ENCODER_CMD", false, c => AbsentAsync(c, async s => (await s.VIDIOC_TRY_ENCODER_CMD(default, null, c.Token)).Status, "testEncoder")),
        new(Group, "test VIDIOC_G_ENC_INDEX", false, c => AbsentAsync(c, async s => (await s.VIDIOC_G_ENC_INDEX(default, null, c.Token)).Status, "testEncIndex")),
        new(Group, "test VIDIOC_(TRY_)DECODER_CMD", false, c => AbsentAsync(c, async s => (await s.VIDIOC_TRY_DECODER_CMD(default, null, c.Token)).Status, "testDecoder")),
    ];

    private static async Task AbsentAsync(ComplianceContext context, System.Func<Runtime.Driver.DriverSession, Task<int>> call, string function)
    {
        var session = await context.OpenAsync().ConfigureAwait(false);
        var status = await call(session).ConfigureAwait(false);
        context.Check(status is ENOTTY || context.Node.IsM2M, $"a node that is no codec (no m2m capability) answered {ErrnoNames.Of(status)} instead of ENOTTY", $"v4l2-test-codecs.cpp, {function}");
        throw ComplianceContext.NotSupported(context.Node.IsM2M ? "codec rules of m2m nodes are not covered" : "not a codec");
    }
}
