using System;
using System.Runtime.InteropServices;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Tests.Runtime;

/// <summary>A hand-driven device side over an in-process transport: the test writes the device's bytes itself,
/// to send the driver things a well-behaved device endpoint never would.</summary>
internal sealed class RawDevice(InProcessTransport transport)
{
    /// <summary>Pops the next chain of <paramref name="queue"/>, writes <paramref name="response"/> into its writable part and returns it.</summary>
    public static bool TryAnswer(InProcessTransport transport, DeviceQueue queue, INotifier interrupt, ReadOnlySpan<byte> response)
    {
        if (!queue.TryPop(out var chain))
        {
            return false;
        }
        var segment = chain.Writable[0];
        response.CopyTo(transport.Memory.GetSpan(segment.Address, segment.Length));
        if (queue.Push(chain, (uint)response.Length))
        {
            interrupt.Notify();
        }
        return true;
    }

    public bool TryAnswerCommand<T>(in T response)
        where T : unmanaged
        => TryAnswer(transport, transport.CommandQueue, transport.CommandInterruptToDriver, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in response)));

    public bool TrySendEvent<T>(in T message)
        where T : unmanaged
        => TryAnswer(transport, transport.EventQueue, transport.EventInterruptToDriver, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in message)));
}
