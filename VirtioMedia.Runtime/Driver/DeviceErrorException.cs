using System.IO;

namespace VirtioMedia.Runtime.Driver;

/// <summary>A command other than an ioctl failed on the device (OPEN, MMAP, MUNMAP), or a session received an
/// ERROR event; <see cref="Errno"/> is the Linux error code.</summary>
public sealed class DeviceErrorException : IOException
{
    /// <summary>Describes the failure.</summary>
    public DeviceErrorException(string message, int errno) : base($"{message} (errno {errno})") => Errno = errno;

    /// <summary>The Linux error code the device answered.</summary>
    public int Errno { get; }
}
