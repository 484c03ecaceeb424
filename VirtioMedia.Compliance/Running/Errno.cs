using static VirtioMedia.Abi.Constants;

namespace VirtioMedia.Compliance.Running;

/// <summary>Names of the Linux errno values the checks meet, for readable failures.</summary>
internal static class ErrnoNames
{
    public static string Of(int status) => status switch
    {
        0 => "0 (success)",
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        EIO => "EIO",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        ENODEV => "ENODEV",
        EINVAL => "EINVAL",
        ENOSPC => "ENOSPC",
        ENOTTY => "ENOTTY",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        ERANGE => "ERANGE",
        ENODATA => "ENODATA",
        EOVERFLOW => "EOVERFLOW",
        _ => $"errno {status}",
    };
}
