using VirtioMedia.Abi;

namespace VirtioMedia.Samples.Guest;

/// <summary>Turns a failed ioctl status into a <see cref="GuestException"/>.</summary>
internal static class Ioctl
{
    public static void Check(int status, string what)
    {
        if (status != 0)
        {
            throw new GuestException(ExitCodes.DeviceError, $"{what} failed: {ErrnoName(status)}");
        }
    }

    public static string ErrnoName(int errno) => errno switch
    {
        Constants.EINVAL => "EINVAL",
        Constants.ENOTTY => "ENOTTY",
        Constants.EBUSY => "EBUSY",
        Constants.ENOMEM => "ENOMEM",
        Constants.EFAULT => "EFAULT",
        Constants.ENOSPC => "ENOSPC",
        Constants.EIO => "EIO",
        Constants.EPERM => "EPERM",
        Constants.EAGAIN => "EAGAIN",
        _ => $"errno {errno}",
    };
}
