namespace VirtioMedia.Runtime.Driver;

/// <summary>How <see cref="DriverEndpoint.AllocateSharedPages(uint, SharedPagesLayout)"/> lays a SHARED_PAGES buffer out
/// in driver memory.</summary>
public enum SharedPagesLayout
{
    /// <summary>One SG entry per page, no two consecutive pages adjacent: what a guest's user pages usually look like,
    /// and the case a device must copy through.</summary>
    Scattered,

    /// <summary>One SG entry covering one run of memory: physically contiguous guest memory (huge pages, a CMA
    /// allocation), which a device may hand on in place.</summary>
    Contiguous,
}
