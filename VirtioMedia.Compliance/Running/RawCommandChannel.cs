using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Compliance.Running;

/// <summary>
/// The command queue driven by hand, one chain at a time, for the probes a driver endpoint never sends (truncated
/// chains, unknown sessions and commands, absurd counts). Each chain is answered within a bounded wait or the probe
/// fails with <see cref="TimeoutException"/>.
/// </summary>
internal sealed class RawCommandChannel
{
    private const int SlotSize = 16384;

    private readonly IDriverTransport _transport;
    private readonly DriverQueue<int> _commands;
    private readonly ulong _readable;
    private readonly ulong _writable;
    private readonly TimeSpan _timeout;
    private int _next;

    public RawCommandChannel(IDriverTransport transport, TimeSpan timeout)
    {
        _transport = transport;
        _commands = new DriverQueue<int>(transport.Memory, transport.CommandQueueLayout, transport.EventIndex);
        _readable = transport.BufferArea.Start;
        _writable = _readable + SlotSize;
        _timeout = timeout;
        if (transport.BufferArea.Length < 2 * SlotSize)
        {
            throw new InvalidOperationException("the transport's buffer area is too small for raw commands");
        }
    }

    /// <summary>Sends <paramref name="request"/> with <paramref name="writable"/> device-writable bytes and returns what the
    /// device wrote.</summary>
    public async Task<byte[]> SendAsync(ReadOnlyMemory<byte> request, int writable, CancellationToken cancellationToken)
    {
        if (request.Length > SlotSize || writable > SlotSize)
        {
            throw new ArgumentOutOfRangeException(nameof(request), "a raw command is at most 16 KiB each way");
        }
        request.Span.CopyTo(_transport.Memory.GetSpan(_readable, (ulong)request.Length));
        _transport.Memory.GetSpan(_writable, (ulong)Math.Max(writable, 1)).Fill(0xEE);
        var token = ++_next;
        ChainSegment[] read = request.Length > 0 ? [new ChainSegment(_readable, (uint)request.Length)] : [];
        ChainSegment[] write = writable > 0 ? [new ChainSegment(_writable, (uint)writable)] : [];
        if (!_commands.TryAdd(read, write, token, out var kick))
        {
            throw new InvalidOperationException("the command queue is full");
        }
        if (kick)
        {
            _transport.CommandKickToDevice.Notify();
        }
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(_timeout);
        try
        {
            while (true)
            {
                if (_commands.TryTakeUsed(out var answered, out var written))
                {
                    if (answered != token)
                    {
                        throw new InvalidOperationException($"the device returned chain {answered}, which is not in flight");
                    }
                    return _transport.Memory.GetSpan(_writable, Math.Min(written, (uint)Math.Max(writable, 0))).ToArray();
                }
                // Polled: one chain at a time, and a probe must not depend on the device's interrupts being right.
                await Task.Delay(1, bounded.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the device did not answer a raw command within {_timeout.TotalSeconds:0.#} s");
        }
    }

    /// <summary>The status of an answer, or null when the device wrote no response header.</summary>
    public static uint? Status(byte[] answer) => answer.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(answer) : null;

    public static byte[] Bytes<T>(T value)
        where T : unmanaged
    {
        var bytes = new byte[Unsafe.SizeOf<T>()];
        MemoryMarshal.Write(bytes, in value);
        return bytes;
    }

    public static byte[] Open() => Bytes(new virtio_media_cmd_open { hdr = { cmd = Constants.VIRTIO_MEDIA_CMD_OPEN } });

    public static byte[] Close(uint session) => Bytes(new virtio_media_cmd_close { hdr = { cmd = Constants.VIRTIO_MEDIA_CMD_CLOSE }, session_id = session });

    public static byte[] Mmap(uint session, uint offset) => Bytes(new virtio_media_cmd_mmap { hdr = { cmd = Constants.VIRTIO_MEDIA_CMD_MMAP }, session_id = session, offset = offset });

    /// <summary>virtio_media_cmd_ioctl for ioctl number <paramref name="code"/> followed by <paramref name="payload"/>.</summary>
    public static byte[] Ioctl(uint session, uint code, ReadOnlySpan<byte> payload)
    {
        var header = Bytes(new virtio_media_cmd_ioctl { hdr = { cmd = Constants.VIRTIO_MEDIA_CMD_IOCTL }, session_id = session, code = code });
        var bytes = new byte[header.Length + payload.Length];
        header.CopyTo(bytes, 0);
        payload.CopyTo(bytes.AsSpan(header.Length));
        return bytes;
    }

    public static byte[] Ioctl<T>(uint session, Ioctl<T> ioctl, T payload)
        where T : unmanaged => Ioctl(session, (uint)ioctl.Descriptor.Number, Bytes(payload));

    /// <summary>OPEN; the new session id (the probe fails when the device refuses).</summary>
    public async Task<uint> OpenAsync(ComplianceContext context)
    {
        var answer = await SendAsync(Open(), Unsafe.SizeOf<virtio_media_resp_open>(), context.Token).ConfigureAwait(false);
        context.Check(answer.Length >= Unsafe.SizeOf<virtio_media_resp_open>() && Status(answer) == 0, "the device did not answer a well-formed OPEN with a session", "spec: Open device");
        return MemoryMarshal.Read<virtio_media_resp_open>(answer).session_id;
    }
}
