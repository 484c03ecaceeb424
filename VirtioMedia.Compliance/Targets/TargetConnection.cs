using System;
using System.Threading.Tasks;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Compliance.Targets;

/// <summary>One connection to the device under test: the driver side of a transport, and how to tear it down.</summary>
internal sealed class TargetConnection(IDriverTransport transport, Func<ValueTask> teardown) : IAsyncDisposable
{
    public IDriverTransport Transport { get; } = transport;

    public ValueTask DisposeAsync() => teardown();
}
