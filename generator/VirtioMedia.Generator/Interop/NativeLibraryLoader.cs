using System;
using System.Runtime.InteropServices;

namespace VirtioMedia.Generator.Interop;

/// <summary>
/// dlopen/dlsym through libdl: netstandard2.0 has no NativeLibrary, and the library to load is chosen at
/// run time (an MSBuild property may name it), which a fixed <c>[DllImport]</c> name cannot express.
/// </summary>
internal static unsafe class NativeLibraryLoader
{
    private const int RTLD_NOW = 2;

    public static IntPtr Open(string path, out string? error)
    {
        error = null;
        IntPtr handle;
        try
        {
            handle = LibDl.dlopen(path, RTLD_NOW);
        }
        catch (DllNotFoundException)
        {
            handle = LibC.dlopen(path, RTLD_NOW);
        }
        if (handle == IntPtr.Zero)
        {
            error = LastError();
        }
        return handle;
    }

    public static IntPtr Symbol(IntPtr library, string name)
    {
        try
        {
            return LibDl.dlsym(library, name);
        }
        catch (DllNotFoundException)
        {
            return LibC.dlsym(library, name);
        }
    }

    private static string LastError()
    {
        IntPtr message;
        try
        {
            message = LibDl.dlerror();
        }
        catch (DllNotFoundException)
        {
            message = LibC.dlerror();
        }
        return message == IntPtr.Zero ? "unknown dlopen error" : Marshal.PtrToStringAnsi(message) ?? "unknown dlopen error";
    }

    private static class LibDl
    {
        [DllImport("libdl.so.2")] public static extern IntPtr dlopen(string fileName, int flags);
        [DllImport("libdl.so.2")] public static extern IntPtr dlsym(IntPtr handle, string symbol);
        [DllImport("libdl.so.2")] public static extern IntPtr dlerror();
    }

    // glibc 2.34 and later carry dl* in libc itself; some images have no libdl.so.2 at all.
    private static class LibC
    {
        [DllImport("libc.so.6")] public static extern IntPtr dlopen(string fileName, int flags);
        [DllImport("libc.so.6")] public static extern IntPtr dlsym(IntPtr handle, string symbol);
        [DllImport("libc.so.6")] public static extern IntPtr dlerror();
    }
}
