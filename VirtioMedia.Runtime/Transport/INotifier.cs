namespace VirtioMedia.Runtime.Transport;

/// <summary>Rings the other side's doorbell: a queue kick (driver to device) or a used-buffer interrupt
/// (device to driver). Must not block.</summary>
public interface INotifier
{
    /// <summary>Signals once; several signals before the other side waits may coalesce into one wake-up.</summary>
    void Notify();
}
