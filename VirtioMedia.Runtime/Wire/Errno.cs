namespace VirtioMedia.Runtime.Wire;

/// <summary>The Linux error codes that virtio-media statuses carry (asm-generic/errno-base.h, errno.h).</summary>
public static class Errno
{
    /// <summary>No such file or directory: an unknown session.</summary>
    public const int ENOENT = 2;

    /// <summary>Argument list too long.</summary>
    public const int E2BIG = 7;

    /// <summary>Out of memory: the request needs more room than the endpoint reserved.</summary>
    public const int ENOMEM = 12;

    /// <summary>Bad address: the chain ends before the data it must hold.</summary>
    public const int EFAULT = 14;

    /// <summary>Invalid argument: a malformed field, count or length.</summary>
    public const int EINVAL = 22;

    /// <summary>Inappropriate ioctl: unknown or unsupported ioctl code.</summary>
    public const int ENOTTY = 25;

    /// <summary>No space left: the device-writable part cannot hold the response.</summary>
    public const int ENOSPC = 28;

    /// <summary>Value too large: an address computation overflows.</summary>
    public const int EOVERFLOW = 75;
}
