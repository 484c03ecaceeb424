using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace VirtioMedia.Generator.Interop;

// Managed views over the libclang calls that take callbacks or hand out native strings and arrays.
internal static unsafe partial class LibClang
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate CXChildVisitResult CursorVisitor(CXCursor cursor, CXCursor parent, IntPtr clientData);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate CXVisitorResult FieldVisitor(CXCursor cursor, IntPtr clientData);

    // One static callback each, kept alive for the process; the list to fill travels as client data.
    private static readonly CursorVisitor CollectChild = (cursor, _, data) =>
    {
        ((List<CXCursor>)GCHandle.FromIntPtr(data).Target!).Add(cursor);
        return CXChildVisitResult.CXChildVisit_Continue;
    };

    private static readonly FieldVisitor CollectField = (cursor, data) =>
    {
        ((List<CXCursor>)GCHandle.FromIntPtr(data).Target!).Add(cursor);
        return CXVisitorResult.CXVisit_Continue;
    };

    private static readonly IntPtr CollectChildPointer = Marshal.GetFunctionPointerForDelegate(CollectChild);
    private static readonly IntPtr CollectFieldPointer = Marshal.GetFunctionPointerForDelegate(CollectField);

    /// <summary>The direct children of a cursor, in source order.</summary>
    public static List<CXCursor> Children(CXCursor parent)
    {
        var children = new List<CXCursor>();
        var handle = GCHandle.Alloc(children);
        try
        {
            clang_visitChildren(parent, CollectChildPointer, (void*)GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }
        return children;
    }

    /// <summary>The fields of a record type, including the unnamed fields of anonymous members.</summary>
    public static List<CXCursor> Fields(CXType record)
    {
        var fields = new List<CXCursor>();
        var handle = GCHandle.Alloc(fields);
        try
        {
            clang_Type_visitFields(record, CollectFieldPointer, (void*)GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }
        return fields;
    }

    public static string Spelling(CXCursor cursor) => TakeString(clang_getCursorSpelling(cursor));

    public static string Spelling(CXType type) => TakeString(clang_getTypeSpelling(type));

    /// <summary>The file (as given to clang) and line where a location is spelled.</summary>
    public static (string File, int Line) FileAndLine(CXSourceLocation location)
    {
        void* file;
        uint line, column, offset;
        clang_getSpellingLocation(location, &file, &line, &column, &offset);
        return (file == null ? string.Empty : TakeString(clang_getFileName(file)), (int)line);
    }

    /// <summary>A key naming a declaration by where it is spelled, the same in every unit of one header set.</summary>
    public static string SourceKey(CXCursor cursor)
    {
        void* file;
        uint line, column, offset;
        clang_getSpellingLocation(clang_getCursorLocation(cursor), &file, &line, &column, &offset);
        var name = file == null ? string.Empty : TakeString(clang_getFileName(file));
        return name + ":" + offset.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The spellings of the tokens a cursor covers (for a macro: its name, then its body).</summary>
    public static List<string> Tokens(void* translationUnit, CXCursor cursor)
    {
        CXToken* tokens;
        uint count;
        clang_tokenize(translationUnit, clang_getCursorExtent(cursor), &tokens, &count);
        var spellings = new List<string>((int)count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                spellings.Add(TakeString(clang_getTokenSpelling(translationUnit, tokens[i])));
            }
        }
        finally
        {
            if (tokens != null)
            {
                clang_disposeTokens(translationUnit, tokens, count);
            }
        }
        return spellings;
    }
}
