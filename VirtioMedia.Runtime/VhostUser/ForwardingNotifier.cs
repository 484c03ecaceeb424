using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>A notifier whose target can change while in use: a front-end may send SET_VRING_CALL again
/// while the device runs (QEMU does when the guest reprograms interrupts).</summary>
internal sealed class ForwardingNotifier : INotifier
{
    private sealed class Nothing : INotifier
    {
        public void Notify()
        {
        }
    }

    private INotifier _target = new Nothing();

    /// <summary>Replaces the target; returns the previous one.</summary>
    public INotifier Swap(INotifier? target) => System.Threading.Interlocked.Exchange(ref _target, target ?? new Nothing());

    public void Notify() => System.Threading.Volatile.Read(ref _target).Notify();
}
