using VirtioMedia.Compliance.Running;
namespace VirtioMedia.Compliance.Groups;
internal static class HostileDriverTests
{
    public static readonly ComplianceTest[] All = [];
}
