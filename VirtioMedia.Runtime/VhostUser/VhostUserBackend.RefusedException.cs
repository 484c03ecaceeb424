using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Runtime.VhostUser;

public sealed partial class VhostUserBackend
{
    /// <summary>A request the loop refuses: an error ack when one was asked for, else the connection ends.</summary>
    private sealed class RefusedException(string message) : Exception(message);
}
