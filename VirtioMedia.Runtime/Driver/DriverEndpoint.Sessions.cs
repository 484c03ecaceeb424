using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Runtime.Driver;

// Sessions: OPEN and CLOSE.
public sealed partial class DriverEndpoint
{
    /// <summary>VIRTIO_MEDIA_CMD_OPEN: opens a new session.</summary>
    public async ValueTask<DriverSession> OpenSessionAsync(CancellationToken cancellationToken = default)
    {
        var slot = await RentSlotAsync(16, 16, cancellationToken).ConfigureAwait(false);
        var writer = slot.RequestWriter();
        CommandCodec.EncodeOpen(ref writer);
        var written = await SendAsync(slot, (uint)writer.Written, 16, cancellationToken).ConfigureAwait(false);
        var reader = slot.ResponseReader(written);
        var decoded = CommandCodec.DecodeResponse(ref reader, out virtio_media_resp_open response, out var status);
        ReturnSlot(slot);
        ThrowIfBroken(decoded, "OPEN");
        if (status != 0)
        {
            throw new DeviceErrorException("the device refused to open a session", status);
        }
        var session = new DriverSession(this, response.session_id);
        if (!_sessions.TryAdd(response.session_id, session))
        {
            throw new DeviceProtocolException($"the device answered session id {response.session_id}, which is already open");
        }
        return session;
    }

    /// <summary>VIRTIO_MEDIA_CMD_CLOSE for <paramref name="session"/> (already marked closed).</summary>
    internal async ValueTask CloseAsync(DriverSession session, CancellationToken cancellationToken)
    {
        try
        {
            var slot = await RentSlotAsync(16, 8, cancellationToken).ConfigureAwait(false);
            var writer = slot.RequestWriter();
            CommandCodec.EncodeClose(ref writer, session.Id);
            await SendAsync(slot, (uint)writer.Written, 8, cancellationToken).ConfigureAwait(false);
            ReturnSlot(slot);
        }
        finally
        {
            _sessions.TryRemove(new KeyValuePair<uint, DriverSession>(session.Id, session));
        }
    }
}
