using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using VirtioMedia.Generator.Interop;
using VirtioMedia.Generator.Model;
using static VirtioMedia.Generator.Interop.LibClang;

namespace VirtioMedia.Generator.Extraction;

/// <summary>
/// A libclang translation unit parsed from memory only: the headers of a set are unsaved files under a
/// virtual root that no machine has, and <c>-nostdinc</c> keeps every system header out.
/// </summary>
internal sealed unsafe class TranslationUnit : IDisposable
{
    /// <summary>The virtual folder the headers are mapped under; the only include path.</summary>
    public const string VirtualRoot = "/virtio-media-abi/";

    private void* _index;
    private void* _unit;

    private TranslationUnit(void* index, void* unit)
    {
        _index = index;
        _unit = unit;
    }

    public void* Handle => _unit;

    public CXCursor Cursor => clang_getTranslationUnitCursor(_unit);

    /// <summary>Parses <paramref name="mainSource"/> with the headers of <paramref name="set"/> reachable.</summary>
    /// <param name="errorLimit">clang's -ferror-limit; 0 lifts the limit (for probes meant to fail in part).</param>
    public static TranslationUnit Parse(HeaderSet set, string mainName, string mainSource, bool detailedPreprocessing, int errorLimit, out int errorCode)
    {
        var arguments = new List<string>
        {
            "-x", "c", "-std=gnu11", "-nostdinc", "-ffreestanding",
            "-target", set.Target,
            "-I", VirtualRoot.TrimEnd('/'),
            "-ferror-limit=" + errorLimit,
            "-Wno-everything",
        };

        var files = new List<(byte[] Name, byte[] Contents)> { (Utf8.Encode(VirtualRoot + mainName), Utf8.Encode(mainSource)) };
        foreach (var header in set.Headers)
        {
            files.Add((Utf8.Encode(VirtualRoot + header.IncludePath), Utf8.Encode(header.Text)));
        }

        var pins = new List<GCHandle>();
        try
        {
            IntPtr Pin(byte[] bytes)
            {
                var pin = GCHandle.Alloc(bytes, GCHandleType.Pinned);
                pins.Add(pin);
                return pin.AddrOfPinnedObject();
            }

            var argv = new IntPtr[arguments.Count];
            for (var i = 0; i < arguments.Count; i++)
            {
                argv[i] = Pin(Utf8.Encode(arguments[i]));
            }
            var unsaved = new CXUnsavedFile[files.Count];
            for (var i = 0; i < files.Count; i++)
            {
                unsaved[i].Filename = (byte*)Pin(files[i].Name);
                unsaved[i].Contents = (byte*)Pin(files[i].Contents);
                unsaved[i].Length = (nuint)(files[i].Contents.Length - 1);
            }

            var options = CXTranslationUnit_Flags.CXTranslationUnit_SkipFunctionBodies | CXTranslationUnit_Flags.CXTranslationUnit_KeepGoing;
            if (detailedPreprocessing)
            {
                options |= CXTranslationUnit_Flags.CXTranslationUnit_DetailedPreprocessingRecord;
            }

            var index = clang_createIndex(0, 0);
            void* unit = null;
            fixed (IntPtr* argvPointer = argv)
            fixed (CXUnsavedFile* unsavedPointer = unsaved)
            fixed (byte* mainPath = files[0].Name)
            {
                errorCode = clang_parseTranslationUnit2(index, mainPath, (byte**)argvPointer, argv.Length, unsavedPointer, (uint)unsaved.Length, (uint)options, &unit);
            }
            return new TranslationUnit(index, unit);
        }
        finally
        {
            foreach (var pin in pins)
            {
                pin.Free();
            }
        }
    }

    /// <summary>The errors clang reported, each with the virtual file and line it points at.</summary>
    public List<(string File, int Line, string Message)> Errors()
    {
        var errors = new List<(string, int, string)>();
        if (_unit == null)
        {
            return errors;
        }
        var count = clang_getNumDiagnostics(_unit);
        for (uint i = 0; i < count; i++)
        {
            var diagnostic = clang_getDiagnostic(_unit, i);
            try
            {
                if (clang_getDiagnosticSeverity(diagnostic) >= CXDiagnosticSeverity.CXDiagnostic_Error)
                {
                    var (file, line) = FileAndLine(clang_getDiagnosticLocation(diagnostic));
                    errors.Add((file, line, TakeString(clang_getDiagnosticSpelling(diagnostic))));
                }
            }
            finally
            {
                clang_disposeDiagnostic(diagnostic);
            }
        }
        return errors;
    }

    public void Dispose()
    {
        if (_unit != null)
        {
            clang_disposeTranslationUnit(_unit);
            _unit = null;
        }
        if (_index != null)
        {
            clang_disposeIndex(_index);
            _index = null;
        }
    }
}
