using System;
using System.Threading;
using VirtioMedia.Runtime.Virtqueues;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Driver;

// What the device answers is checked here: a malformed answer or a broken queue is a DeviceProtocolException.
public sealed partial class DriverEndpoint
{
    private static void ThrowIfBroken(WireResult decoded, string command)
    {
        if (!decoded.IsSuccess)
        {
            throw new DeviceProtocolException($"{command}: the device's answer is malformed: {decoded.Reason}");
        }
    }

    /// <summary>
    /// The device broke a queue: the endpoint is unusable. Recorded first, so every later call throws; then every
    /// command waiting fails and every session's buffer and event streams end with the error, so an application
    /// reading them learns it instead of waiting for events that will never come.
    /// </summary>
    private void Break(string queue, VirtqueueException violation)
    {
        var error = new DeviceProtocolException($"the device broke the {queue} queue: {violation.Message}", violation);
        Interlocked.CompareExchange(ref _fault, error, null);
        FailAll(error);
        foreach (var session in _sessions.Values)
        {
            session.Complete(error);
        }
    }

    private void ThrowIfFaulted()
    {
        if (Volatile.Read(ref _fault) is { } fault)
        {
            throw new DeviceProtocolException("the device broke the queue protocol; the endpoint is unusable", fault);
        }
        ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
    }
}
