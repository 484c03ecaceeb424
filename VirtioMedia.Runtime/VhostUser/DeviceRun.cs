using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>One start of the device: its transport, its serve task, and the memory tables it may
/// access (released when the serve task has finished, not when a stop gives up waiting).</summary>
internal sealed class DeviceRun
{
    private readonly List<MemoryTableSnapshot> _held = new();
    private bool _finished;

    public DeviceRun(VhostUserDeviceTransport transport, CancellationTokenSource stop, MemoryTableSnapshot table)
    {
        Transport = transport;
        Stop = stop;
        _held.Add(table);
    }

    public VhostUserDeviceTransport Transport { get; }

    public CancellationTokenSource Stop { get; }

    public Task Serving { get; private set; } = Task.CompletedTask;

    /// <summary>Set under the lock of this object when the device stops; back-end requests check it
    /// under the same lock before they are sent.</summary>
    public bool Stopped { get; set; }

    public void Serve(Task serving)
    {
        Serving = serving;
        serving.ContinueWith(_ => Finish(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Keeps <paramref name="table"/> (one reference, taken by the caller) until the serve task has finished.</summary>
    public void Hold(MemoryTableSnapshot table)
    {
        lock (_held)
        {
            if (!_finished)
            {
                _held.Add(table);
                return;
            }
        }
        table.Release();
    }

    private void Finish()
    {
        lock (_held)
        {
            _finished = true;
            foreach (var table in _held)
            {
                table.Release();
            }
            _held.Clear();
        }
    }
}
