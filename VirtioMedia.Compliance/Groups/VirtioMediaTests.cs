using VirtioMedia.Compliance.Running;
namespace VirtioMedia.Compliance.Groups;
internal static class VirtioMediaTests
{
    public static readonly ComplianceTest[] All = [];
}
