using System;
using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Tests.Runtime;

/// <summary>
/// A hand-driven driver side over an in-process transport: the test writes the command bytes itself, to send the
/// device things a well-behaved driver endpoint never would (the opposite of <see cref="RawDevice"/>). Chains may be
/// cut into several descriptors; many may be in flight.
/// </summary>
internal sealed class RawDriver : IAsyncDisposable
{
    private const int SlotSize = 8192;
    private const int Slots = 32;

    private readonly InProcessTransport _transport;
    private readonly DriverQueue<Pending> _commands;
    private readonly SemaphoreSlim _free = new(Slots);
    private readonly ConcurrentQueue<int> _freeSlots = new();
    private readonly ulong _area;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reaper;

    public RawDriver(InProcessTransport transport)
    {
        _transport = transport;
        var driver = transport.Driver;
        _commands = new DriverQueue<Pending>(driver.Memory, driver.CommandQueueLayout, driver.EventIndex);
        Events = new DriverQueue<int>(driver.Memory, driver.EventQueueLayout, driver.EventIndex);
        _area = driver.BufferArea.Start;
        // Slots for commands first (readable half, writable half), then room for event buffers.
        EventArea = _area + (ulong)(Slots * 2 * SlotSize);
        for (var i = 0; i < Slots; i++)
        {
            _freeSlots.Enqueue(i);
        }
        _reaper = Task.Run(ReapAsync);
    }

    /// <summary>The event queue, for tests that supply event buffers themselves.</summary>
    public DriverQueue<int> Events { get; }

    /// <summary>Where the test may put event buffers.</summary>
    public ulong EventArea { get; }

    /// <summary>
    /// Sends <paramref name="request"/> as the device-readable part (cut into <paramref name="readableSegments"/>
    /// descriptors) with <paramref name="writable"/> device-writable bytes (in <paramref name="writableSegments"/>), and
    /// returns what the device wrote. Fails after <paramref name="timeoutSeconds"/> instead of hanging.
    /// </summary>
    public async Task<byte[]> SendAsync(ReadOnlyMemory<byte> request, int writable, int readableSegments = 1, int writableSegments = 1, int timeoutSeconds = 10)
    {
        if (request.Length > SlotSize || writable > SlotSize)
        {
            throw new ArgumentOutOfRangeException(nameof(request));
        }
        await _free.WaitAsync();
        _freeSlots.TryDequeue(out var slot);
        try
        {
            var readableAt = _area + (ulong)(slot * 2 * SlotSize);
            var writableAt = readableAt + SlotSize;
            request.Span.CopyTo(_transport.Memory.GetSpan(readableAt, (ulong)request.Length));
            _transport.Memory.GetSpan(writableAt, SlotSize).Fill(0xEE);
            var read = Cut(readableAt, request.Length, readableSegments);
            var write = Cut(writableAt, writable, writableSegments);
            var pending = new Pending();
            bool added, kick;
            do
            {
                added = _commands.TryAdd(read, write, pending, out kick);
                if (!added)
                {
                    await Task.Delay(1);
                }
            }
            while (!added);
            if (kick)
            {
                _transport.Driver.CommandKickToDevice.Notify();
            }
            var written = await pending.Done.Task.WaitAsync(TimeSpan.FromSeconds(timeoutSeconds));
            return _transport.Memory.GetSpan(writableAt, written).ToArray();
        }
        finally
        {
            _freeSlots.Enqueue(slot);
            _free.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _reaper;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }

    /// <summary>[start, +length) as <paramref name="segments"/> descriptors of near-equal size (none empty unless length is 0).</summary>
    private static ChainSegment[] Cut(ulong start, int length, int segments)
    {
        segments = Math.Max(1, Math.Min(segments, Math.Max(length, 1)));
        if (length == 0)
        {
            return [];
        }
        var result = new ChainSegment[segments];
        var at = 0;
        for (var i = 0; i < segments; i++)
        {
            var size = length / segments + (i < length % segments ? 1 : 0);
            result[i] = new ChainSegment(start + (ulong)at, (uint)size);
            at += size;
        }
        return result;
    }

    private async Task ReapAsync()
    {
        while (true)
        {
            while (_commands.TryTakeUsed(out var pending, out var written))
            {
                pending.Done.TrySetResult(written);
            }
            await _transport.Driver.CommandInterruptsFromDevice.WaitAsync(_stop.Token);
        }
    }

    private sealed class Pending
    {
        public TaskCompletionSource<uint> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
