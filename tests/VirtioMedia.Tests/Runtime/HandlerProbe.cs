using System.Threading;

namespace VirtioMedia.Tests.Runtime;

/// <summary>What the <see cref="ProbeHandler"/>s of one endpoint did, and the gate that holds their G_FMTs.</summary>
internal sealed class HandlerProbe
{
    public readonly ManualResetEventSlim Gate = new(true);
    public int Created;
    public int Disposed;
    public int DisposedTwice;
    public int Started;
}
