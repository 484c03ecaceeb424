using System;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Driver;

/// <summary>
/// One command in flight: its device-readable and device-writable buffers in guest memory, the ioctl message
/// staged in them, and the completion the caller awaits. Pooled. A slot whose command timed out is abandoned
/// to the device and only reused once the device returns its chain (its buffers are the device's until then).
/// </summary>
/// <remarks>
/// Generic commands await <see cref="Completion"/> (the bytes the device wrote). An ioctl awaits the slot as an
/// <see cref="IValueTaskSource{TResult}"/> of its status instead: the caller's <c>GetResult</c> decodes the answer
/// into the caller's payload and returns the slot to the pool, so an ioctl round trip needs no state machine, no
/// task and no registration object of its own.
/// </remarks>
internal sealed class CommandSlot : IValueTaskSource<uint>, IValueTaskSource<int>
{
    private const int Idle = 0;
    private const int InFlight = 1;
    private const int Done = 2;
    private const int Abandoned = 3;

    private readonly NativeMemoryManager _readable = new();
    private readonly NativeMemoryManager _writable = new();
    private readonly Memory<byte>[] _requestSegments = new Memory<byte>[1];
    private readonly ReadOnlyMemory<byte>[] _responseSegments = new ReadOnlyMemory<byte>[1];
    private ManualResetValueTaskSourceCore<uint> _core = new() { RunContinuationsAsynchronously = true };
    private int _state;
    private long _deadline;
    private IoctlMessage? _message;
    private CancellationTokenRegistration _cancellation;
    private Func<CommandSlot, uint, int>? _finish;

    public ulong ReadableAddress { get; private set; }

    public ulong WritableAddress { get; private set; }

    public int ReadableCapacity { get; private set; }

    public int WritableCapacity { get; private set; }

    public Memory<byte> Readable => _readable.Memory;

    public Memory<byte> Writable => _writable.Memory;

    /// <summary>A writer over the device-readable buffer.</summary>
    public ChainWriter RequestWriter()
    {
        _requestSegments[0] = _readable.Memory;
        return new ChainWriter(_requestSegments);
    }

    /// <summary>A reader over the first <paramref name="written"/> bytes of the device-writable buffer.</summary>
    public ChainReader ResponseReader(uint written)
    {
        _responseSegments[0] = _writable.Memory.Slice(0, (int)Math.Min(written, (uint)WritableCapacity));
        return new ChainReader(_responseSegments);
    }

    public IoctlMessage Message => _message ??= new IoctlMessage();

    /// <summary>Makes both buffers at least as large as asked, moving them in guest memory when they grow.</summary>
    public bool TryEnsureCapacity(GuestMemory memory, RangeAllocator heap, int readable, int writable)
    {
        if (readable > ReadableCapacity)
        {
            var size = RoundUp(readable);
            if (!heap.TryAllocate((ulong)size, out var address))
            {
                return false;
            }
            if (ReadableCapacity > 0)
            {
                heap.Free(ReadableAddress, (ulong)ReadableCapacity);
            }
            ReadableAddress = address;
            ReadableCapacity = size;
            _readable.Reset(memory.GetSpan(address, (ulong)size));
        }
        if (writable > WritableCapacity)
        {
            var size = RoundUp(writable);
            if (!heap.TryAllocate((ulong)size, out var address))
            {
                return false;
            }
            if (WritableCapacity > 0)
            {
                heap.Free(WritableAddress, (ulong)WritableCapacity);
            }
            WritableAddress = address;
            WritableCapacity = size;
            _writable.Reset(memory.GetSpan(address, (ulong)size));
        }
        return true;
    }

    public void Begin(long deadline)
    {
        _core.Reset();
        _deadline = deadline;
        Volatile.Write(ref _state, InFlight);
    }

    public ValueTask<uint> Completion => new(this, _core.Version);

    /// <summary>The ioctl being served: where its payload and trailers go back to.</summary>
    public IoctlDescriptor? Ioctl { get; private set; }

    public Memory<byte> CallerPayload { get; private set; }

    public IoctlExtras? CallerExtras { get; private set; }

    /// <summary>Makes the slot an ioctl completion: once the chain is back, <paramref name="finish"/> (on the caller's
    /// side, in <c>GetResult</c>) turns the written length into the status and returns the slot.</summary>
    public void BindIoctl(IoctlDescriptor ioctl, Memory<byte> payload, IoctlExtras? extras, Func<CommandSlot, uint, int> finish)
    {
        Ioctl = ioctl;
        CallerPayload = payload;
        CallerExtras = extras;
        _finish = finish;
    }

    /// <summary>Cancels the command (abandons it) when <paramref name="cancellationToken"/> fires; undone in <c>GetResult</c>.</summary>
    public void AbandonOn(CancellationToken cancellationToken)
    {
        if (cancellationToken.CanBeCanceled)
        {
            // A source reuses its registration nodes, so this allocates nothing once warm.
            _cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((CommandSlot)state!).Abandon(new OperationCanceledException(token)), this);
        }
    }

    /// <summary>The ioctl's completion: the device's status.</summary>
    public ValueTask<int> IoctlCompletion => new(this, _core.Version);

    /// <summary>The token of the current completion.</summary>
    public short Version => _core.Version;

    /// <summary>The device returned the chain. Returns true when the slot was abandoned and is now free to reuse.</summary>
    public bool OnUsed(uint written)
    {
        var previous = Interlocked.CompareExchange(ref _state, Done, InFlight);
        if (previous == InFlight)
        {
            _core.SetResult(written);
            return false;
        }
        if (previous == Abandoned)
        {
            Volatile.Write(ref _state, Idle);
            return true;
        }
        return false;
    }

    /// <summary>Fails the waiting caller (timeout, cancellation, broken device); the chain stays the device's.</summary>
    public void Abandon(Exception error)
    {
        if (Interlocked.CompareExchange(ref _state, Abandoned, InFlight) == InFlight)
        {
            _core.SetException(error);
        }
    }

    public bool IsOverdue(long now) => Volatile.Read(ref _state) == InFlight && now > Volatile.Read(ref _deadline);

    /// <summary>After the caller consumed a completed result: the slot can go back to the pool.</summary>
    public void MarkIdle()
    {
        Ioctl = null;
        CallerPayload = default;
        CallerExtras = null;
        _finish = null;
        Volatile.Write(ref _state, Idle);
    }

    uint IValueTaskSource<uint>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<uint>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<uint>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    int IValueTaskSource<int>.GetResult(short token)
    {
        uint written;
        try
        {
            written = _core.GetResult(token);
        }
        finally
        {
            // Disposed before the slot can be reused; waits for a cancellation callback that is running.
            _cancellation.Dispose();
            _cancellation = default;
        }
        return _finish!(this, written);
    }

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    private static int RoundUp(int value) => (value + 4095) & ~4095;
}
