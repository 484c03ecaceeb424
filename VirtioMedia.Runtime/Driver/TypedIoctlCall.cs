using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Pooling;

namespace VirtioMedia.Runtime.Driver;

/// <summary>
/// A typed ioctl call (<see cref="ITypedIoctlInvoker"/>): the payload's bytes, and the completion the caller awaits,
/// which forwards to the command slot's so that the caller's continuation is registered on the slot directly (no
/// state machine between them, no thread hop). Pooled per payload type.
/// </summary>
internal sealed class TypedIoctlCall<TPayload> : IValueTaskSource<IoctlResult<TPayload>>
    where TPayload : unmanaged
{
    private static readonly ObjectPool<TypedIoctlCall<TPayload>> Pool = new();

    private readonly byte[] _payload = new byte[Unsafe.SizeOf<TPayload>()];
    private IValueTaskSource<int>? _slot;

    public Memory<byte> Payload => _payload;

    public static TypedIoctlCall<TPayload> Rent(in TPayload payload)
    {
        var call = Pool.TryRent(out var pooled) ? pooled : new TypedIoctlCall<TPayload>();
        MemoryMarshal.Write(call._payload, in payload);
        return call;
    }

    /// <summary>Completes with what <paramref name="pending"/> completes with, plus the payload as it came back.
    /// <paramref name="slot"/>: the command slot behind <paramref name="pending"/>, or null when it is something else.</summary>
    public ValueTask<IoctlResult<TPayload>> Track(ValueTask<int> pending, CommandSlot? slot)
    {
        if (slot is not null)
        {
            _slot = slot;
            return new ValueTask<IoctlResult<TPayload>>(this, slot.Version);
        }
        if (pending.IsCompletedSuccessfully)
        {
            return new ValueTask<IoctlResult<TPayload>>(Finish(pending.Result));
        }
        return AwaitAsync(pending);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IoctlResult<TPayload>> AwaitAsync(ValueTask<int> pending)
    {
        int status;
        try
        {
            status = await pending.ConfigureAwait(false);
        }
        catch
        {
            Pool.Return(this);
            throw;
        }
        return Finish(status);
    }

    private IoctlResult<TPayload> Finish(int status)
    {
        var result = new IoctlResult<TPayload>(status, MemoryMarshal.Read<TPayload>(_payload));
        Pool.Return(this);
        return result;
    }

    IoctlResult<TPayload> IValueTaskSource<IoctlResult<TPayload>>.GetResult(short token)
    {
        var slot = _slot!;
        _slot = null;
        int status;
        try
        {
            // Decodes the answer into this call's payload bytes and frees the slot.
            status = slot.GetResult(token);
        }
        catch
        {
            Pool.Return(this);
            throw;
        }
        return Finish(status);
    }

    ValueTaskSourceStatus IValueTaskSource<IoctlResult<TPayload>>.GetStatus(short token) => _slot!.GetStatus(token);

    void IValueTaskSource<IoctlResult<TPayload>>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _slot!.OnCompleted(continuation, state, token, flags);
}
