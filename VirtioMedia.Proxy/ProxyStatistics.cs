using System.Threading;

namespace VirtioMedia.Proxy;

/// <summary>How each memory path moved frames: frames done, and bytes-copying passes made for them.</summary>
public sealed class ProxyStatistics
{
    private long _mmapFrames;
    private long _mmapCopies;
    private long _sharedPagesFrames;
    private long _sharedPagesCopies;

    /// <summary>MMAP frames done (DQBUF).</summary>
    public long MmapFrames => Interlocked.Read(ref _mmapFrames);

    /// <summary>Copies made for MMAP frames (host buffer to shared memory region 0, or back for output).</summary>
    public long MmapCopies => Interlocked.Read(ref _mmapCopies);

    /// <summary>SHARED_PAGES frames done.</summary>
    public long SharedPagesFrames => Interlocked.Read(ref _sharedPagesFrames);

    /// <summary>Copies made for SHARED_PAGES frames (through a bounce buffer when the pages are not one host range).</summary>
    public long SharedPagesCopies => Interlocked.Read(ref _sharedPagesCopies);

    internal void CountFrame(bool mmap, int copies)
    {
        if (mmap)
        {
            Interlocked.Increment(ref _mmapFrames);
            Interlocked.Add(ref _mmapCopies, copies);
        }
        else
        {
            Interlocked.Increment(ref _sharedPagesFrames);
            Interlocked.Add(ref _sharedPagesCopies, copies);
        }
    }
}
