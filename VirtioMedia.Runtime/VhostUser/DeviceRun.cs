using System.Threading;
using System.Threading.Tasks;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>One start of the device: its transport and its serve task. The memory it accesses is not held
/// here but leased access by access from guest memory (<see cref="VirtioMedia.Runtime.Memory.GuestMemory.Lease"/>).</summary>
internal sealed class DeviceRun
{
    public DeviceRun(VhostUserDeviceTransport transport, CancellationTokenSource stop)
    {
        Transport = transport;
        Stop = stop;
    }

    public VhostUserDeviceTransport Transport { get; }

    public CancellationTokenSource Stop { get; }

    public Task Serving { get; private set; } = Task.CompletedTask;

    /// <summary>Set under the lock of this object when the device stops; back-end requests check it
    /// under the same lock before they are sent.</summary>
    public bool Stopped { get; set; }

    public void Serve(Task serving) => Serving = serving;
}
