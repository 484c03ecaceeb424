using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Pooling;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Driver;

/// <summary>
/// The driver side of virtio-media: reads the configuration, opens sessions, sends commands (many in flight,
/// matched to their answers by the used-ring token), keeps the event queue stocked and routes events to their
/// sessions, maps MMAP buffers and builds SHARED_PAGES buffers. The device is untrusted: every length, count,
/// offset and id it answers is checked, and a device that stops answering makes commands fail with
/// <see cref="TimeoutException"/>.
/// </summary>
public sealed partial class DriverEndpoint : IAsyncDisposable
{
    private const int EventBufferSize = 640; // virtio_media_event_dqbuf (608), the largest event, rounded up

    private readonly IDriverTransport _transport;
    private readonly DriverEndpointOptions _options;
    private readonly DriverQueue<CommandSlot> _commands;
    private readonly DriverQueue<int> _events;
    private readonly RangeAllocator _heap;
    private readonly SemaphoreSlim _inFlight;
    private readonly ObjectPool<CommandSlot> _slotPool = new();
    private readonly Func<CommandSlot, uint, int> _finishIoctl;
    private readonly List<CommandSlot> _allSlots = new();
    private readonly ConcurrentDictionary<uint, DriverSession> _sessions = new();
    private readonly List<MappedBuffer> _mapped = new();
    private readonly Action<ulong, ulong> _onSharedMemoryUnmapped;
    private readonly NativeMemoryManager[] _eventBuffers;
    private readonly ulong _eventArea;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loops;
    private readonly Timer _watchdog;
    private readonly long _timeoutTicks;
    private DeviceProtocolException? _fault;
    private long _malformedEvents;
    private long _strayEvents;

    private DriverEndpoint(IDriverTransport transport, DriverEndpointOptions options)
    {
        _transport = transport;
        _options = options;
        _finishIoctl = FinishIoctl;
        _onSharedMemoryUnmapped = OnSharedMemoryUnmapped;
        Config = transport.ReadConfig();
        _commands = new DriverQueue<CommandSlot>(transport.Memory, transport.CommandQueueLayout, transport.EventIndex);
        _events = new DriverQueue<int>(transport.Memory, transport.EventQueueLayout, transport.EventIndex);
        _heap = new RangeAllocator(transport.BufferArea.Start, transport.BufferArea.Length, SharedPagesBuffer.PageSize);
        // Every command is a chain of two descriptors (device-readable, device-writable).
        _inFlight = new SemaphoreSlim(transport.CommandQueueLayout.Size / 2);
        _timeoutTicks = (long)options.CommandTimeout.TotalMilliseconds;

        var eventCount = Math.Min(options.EventBuffers, (int)transport.EventQueueLayout.Size);
        if (eventCount <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "at least one event buffer is needed");
        }
        if (!_heap.TryAllocate((ulong)(eventCount * EventBufferSize), out _eventArea))
        {
            throw new InvalidOperationException("driver memory too small for the event buffers");
        }
        _eventBuffers = new NativeMemoryManager[eventCount];
        for (var i = 0; i < eventCount; i++)
        {
            _eventBuffers[i] = new NativeMemoryManager();
            _eventBuffers[i].Reset(transport.Memory.GetSpan(EventAddress(i), EventBufferSize));
            SupplyEventBuffer(i);
        }
        var period = TimeSpan.FromMilliseconds(Math.Clamp(options.CommandTimeout.TotalMilliseconds / 4, 5, 250));
        _watchdog = new Timer(static state => ((DriverEndpoint)state!).ExpireOverdue(), this, period, period);
        if (transport is ISharedMemoryUnmapSource unmaps)
        {
            unmaps.SharedMemoryUnmapped += _onSharedMemoryUnmapped;
        }
        var token = _stop.Token;
        _loops = Task.WhenAll(
            Task.Run(() => CommandCompletionLoopAsync(token), CancellationToken.None),
            Task.Run(() => EventLoopAsync(token), CancellationToken.None));
    }

    /// <summary>Sets the queues up, stocks the event queue and starts serving completions.</summary>
    public static DriverEndpoint Start(IDriverTransport transport, DriverEndpointOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        return new DriverEndpoint(transport, options ?? new DriverEndpointOptions());
    }

    /// <summary>The device configuration read at start.</summary>
    public virtio_media_config Config { get; }

    /// <summary>The card name from the configuration.</summary>
    public string Card => ConfigSpace.Card(Config);

    /// <summary>The driver's memory (where SHARED_PAGES buffers live).</summary>
    public GuestMemory Memory => _transport.Memory;

    /// <summary>Events dropped because they were malformed (short, unknown type, impossible counts).</summary>
    public long MalformedEvents => Interlocked.Read(ref _malformedEvents);

    /// <summary>Events for sessions the driver does not have open (dropped).</summary>
    public long StrayEvents => Interlocked.Read(ref _strayEvents);

    /// <summary>
    /// Why the endpoint is unusable: the device broke the command or the event queue (a used entry for a chain not in
    /// flight, more used entries than chains in flight, a length beyond the chain's writable bytes). Null while healthy.
    /// Once set, every call throws it wrapped, waiting commands fail with it, and session streams end with it.
    /// </summary>
    public DeviceProtocolException? Fault => Volatile.Read(ref _fault);

    /// <summary>How many sessions are open.</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>How many command chains the device holds (answered or not by their callers: a command that timed
    /// out keeps its chain until the device returns it).</summary>
    public int CommandsInFlight => (int)(_commands.Layout.Size / 2) - _inFlight.CurrentCount;

    /// <summary>Stops serving completions and events; commands still in flight fail.</summary>
    public async ValueTask DisposeAsync()
    {
        await _watchdog.DisposeAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loops.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        // Loops stopped: no completion can race these. Every waiting command fails, every session's streams end
        // with the reason, and only then are the mappings revoked (no command can still hand one out).
        FailAll(new ObjectDisposedException(nameof(DriverEndpoint), "the driver endpoint was disposed before the device answered"));
        var ended = new ObjectDisposedException(nameof(DriverEndpoint), "the driver endpoint was disposed; the session is gone");
        foreach (var session in _sessions.Values)
        {
            session.Complete(ended);
        }
        _sessions.Clear();
        RevokeAllMappings();
    }
}
