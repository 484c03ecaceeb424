using System;
using System.Runtime.InteropServices;
using VirtioMedia.Runtime.VhostUser.Interop;

namespace VirtioMedia.Runtime.VhostUser;

/// <summary>
/// An owned Linux file descriptor, closed once when disposed. Calls that use it hold a reference, so a
/// dispose racing with a blocked read closes the descriptor only after that read returns.
/// </summary>
public sealed class UnixFileDescriptor : SafeHandle
{
    /// <summary>Takes ownership of <paramref name="fd"/>.</summary>
    public UnixFileDescriptor(int fd)
        : base(new IntPtr(-1), ownsHandle: true)
    {
        if (fd < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(fd), fd, "a file descriptor is not negative");
        }
        SetHandle(new IntPtr(fd));
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle.ToInt64() < 0;

    /// <summary>The raw number, for passing to another process; the caller keeps this object alive meanwhile.</summary>
    public int Value => (int)handle.ToInt64();

    /// <summary>Runs <paramref name="call"/> with the raw descriptor, holding a reference so it cannot be closed meanwhile.</summary>
    internal T With<T>(Func<int, T> call)
    {
        var added = false;
        DangerousAddRef(ref added);
        try
        {
            return call(Value);
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <summary>Holds a reference for the lifetime of the returned lease (use with <c>using</c>).</summary>
    internal Lease Acquire()
    {
        var added = false;
        DangerousAddRef(ref added);
        return new Lease(this);
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => LibC.Close(Value) == 0;

    /// <summary>A held reference to an open descriptor.</summary>
    internal readonly struct Lease(UnixFileDescriptor owner) : IDisposable
    {
        /// <summary>The raw descriptor number, valid until disposed.</summary>
        public int Fd => owner.Value;

        /// <inheritdoc/>
        public void Dispose() => owner.DangerousRelease();
    }
}
