using System;
using System.Globalization;
using System.Text;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>
/// The text form of one vhost-user message for a message trace, one line each:
/// <c>main F&gt;B 5 SET_MEM_TABLE flags=0x9 size=40 fds=1 0100000000000000…</c>: the channel (<c>main</c>,
/// the socket the front-end connected; <c>backend</c>, the one it passed with SET_BACKEND_REQ_FD), who
/// sent it (<c>F&gt;B</c> front-end to back-end, <c>B&gt;F</c> the other way), the request number and its
/// name in the specification, the header's flags and size, the number of descriptors that came with it,
/// and the payload in hex (<c>-</c> when empty). Descriptors are counted, never printed: their numbers
/// mean nothing outside the process.
/// </summary>
public static class VhostUserTrace
{
    /// <summary>The channel the front-end connected on.</summary>
    public const string MainChannel = "main";

    /// <summary>The channel passed with SET_BACKEND_REQ_FD, for back-end requests.</summary>
    public const string BackendChannel = "backend";

    /// <summary>A message the front-end sent.</summary>
    public const string FromFrontend = "F>B";

    /// <summary>A message the back-end sent.</summary>
    public const string FromBackend = "B>F";

    /// <summary>Formats one message as a trace line.</summary>
    public static string Format(string channel, string direction, uint request, uint flags, ReadOnlySpan<byte> payload, int fileDescriptors)
    {
        var backendRequests = channel == BackendChannel;
        var name = backendRequests ? BackendRequestName(request) : RequestName(request);
        var line = new StringBuilder(64 + payload.Length * 2);
        line.Append(channel).Append(' ').Append(direction).Append(' ')
            .Append(request.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(name)
            .Append(" flags=0x").Append(flags.ToString("x", CultureInfo.InvariantCulture))
            .Append(" size=").Append(payload.Length.ToString(CultureInfo.InvariantCulture))
            .Append(" fds=").Append(fileDescriptors.ToString(CultureInfo.InvariantCulture))
            .Append(' ').Append(payload.IsEmpty ? "-" : Convert.ToHexStringLower(payload));
        return line.ToString();
    }

    /// <summary>The specification's name of a front-end request ("Front-end message types").</summary>
    public static string RequestName(uint request) => request switch
    {
        1 => "GET_FEATURES",
        2 => "SET_FEATURES",
        3 => "SET_OWNER",
        4 => "RESET_OWNER",
        5 => "SET_MEM_TABLE",
        6 => "SET_LOG_BASE",
        7 => "SET_LOG_FD",
        8 => "SET_VRING_NUM",
        9 => "SET_VRING_ADDR",
        10 => "SET_VRING_BASE",
        11 => "GET_VRING_BASE",
        12 => "SET_VRING_KICK",
        13 => "SET_VRING_CALL",
        14 => "SET_VRING_ERR",
        15 => "GET_PROTOCOL_FEATURES",
        16 => "SET_PROTOCOL_FEATURES",
        17 => "GET_QUEUE_NUM",
        18 => "SET_VRING_ENABLE",
        19 => "SEND_RARP",
        20 => "NET_SET_MTU",
        21 => "SET_BACKEND_REQ_FD",
        22 => "IOTLB_MSG",
        23 => "SET_VRING_ENDIAN",
        24 => "GET_CONFIG",
        25 => "SET_CONFIG",
        26 => "CREATE_CRYPTO_SESSION",
        27 => "CLOSE_CRYPTO_SESSION",
        28 => "POSTCOPY_ADVISE",
        29 => "POSTCOPY_LISTEN",
        30 => "POSTCOPY_END",
        31 => "GET_INFLIGHT_FD",
        32 => "SET_INFLIGHT_FD",
        33 => "GPU_SET_SOCKET",
        34 => "RESET_DEVICE",
        35 => "VRING_KICK",
        36 => "GET_MAX_MEM_SLOTS",
        37 => "ADD_MEM_REG",
        38 => "REM_MEM_REG",
        39 => "SET_STATUS",
        40 => "GET_STATUS",
        41 => "GET_SHARED_OBJECT",
        42 => "SET_DEVICE_STATE_FD",
        43 => "CHECK_DEVICE_STATE",
        44 => "GET_SHMEM_CONFIG",
        _ => "UNKNOWN",
    };

    /// <summary>The specification's name of a back-end request ("Back-end message types").</summary>
    public static string BackendRequestName(uint request) => request switch
    {
        1 => "BACKEND_IOTLB_MSG",
        2 => "BACKEND_CONFIG_CHANGE_MSG",
        3 => "BACKEND_VRING_HOST_NOTIFIER_MSG",
        4 => "BACKEND_VRING_CALL",
        5 => "BACKEND_VRING_ERR",
        6 => "BACKEND_SHARED_OBJECT_ADD",
        7 => "BACKEND_SHARED_OBJECT_REMOVE",
        8 => "BACKEND_SHARED_OBJECT_LOOKUP",
        9 => "BACKEND_SHMEM_MAP",
        10 => "BACKEND_SHMEM_UNMAP",
        _ => "UNKNOWN",
    };
}
