using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Compliance.Targets;

/// <summary>A vhost-user back-end on a Unix socket, fronted by a <see cref="VhostUserFrontend"/> per connection.</summary>
internal sealed class VhostUserTarget(string socketPath, VhostUserFrontendOptions options) : ComplianceTarget
{
    public override string Description => socketPath;

    internal override async Task<TargetConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var frontend = await VhostUserFrontend.ConnectAsync(socketPath, options, cancellationToken).ConfigureAwait(false);
        return new TargetConnection(frontend, () =>
        {
            frontend.Dispose();
            return ValueTask.CompletedTask;
        });
    }
}
