using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Wire;

/// <summary>
/// The Linux error codes that virtio-media statuses carry, under the names the wire code uses. The values are the
/// kernel's own (<c>asm-generic/errno-base.h</c>, <c>errno.h</c>), generated into <see cref="Constants"/>.
/// </summary>
public static class Errno
{
    /// <summary>No such file or directory: an unknown session.</summary>
    public const int ENOENT = Constants.ENOENT;

    /// <summary>Argument list too long.</summary>
    public const int E2BIG = Constants.E2BIG;

    /// <summary>Out of memory: the request needs more room than the endpoint reserved.</summary>
    public const int ENOMEM = Constants.ENOMEM;

    /// <summary>Bad address: the chain ends before the data it must hold.</summary>
    public const int EFAULT = Constants.EFAULT;

    /// <summary>Invalid argument: a malformed field, count or length.</summary>
    public const int EINVAL = Constants.EINVAL;

    /// <summary>Inappropriate ioctl: unknown or unsupported ioctl code.</summary>
    public const int ENOTTY = Constants.ENOTTY;

    /// <summary>No space left: the device-writable part cannot hold the response.</summary>
    public const int ENOSPC = Constants.ENOSPC;

    /// <summary>Value too large: an address computation overflows.</summary>
    public const int EOVERFLOW = Constants.EOVERFLOW;
}
