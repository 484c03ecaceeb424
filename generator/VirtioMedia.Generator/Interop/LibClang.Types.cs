using System.Runtime.InteropServices;

namespace VirtioMedia.Generator.Interop;

// The libclang C ABI (clang-c/Index.h, stable since clang 3.x), declared as blittable structs so they
// can be passed by value through unmanaged function pointers.

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXString
{
    public void* data;
    public uint private_flags;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXCursor
{
    public CXCursorKind kind;
    public int xdata;
    public void* data0;
    public void* data1;
    public void* data2;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXType
{
    public CXTypeKind kind;
    public void* data0;
    public void* data1;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXSourceLocation
{
    public void* ptr_data0;
    public void* ptr_data1;
    public uint int_data;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXSourceRange
{
    public void* ptr_data0;
    public void* ptr_data1;
    public uint begin_int_data;
    public uint end_int_data;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXToken
{
    public uint int_data0;
    public uint int_data1;
    public uint int_data2;
    public uint int_data3;
    public void* ptr_data;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXUnsavedFile
{
    public byte* Filename;
    public byte* Contents;
    public nuint Length;
}

internal enum CXCursorKind
{
    CXCursor_StructDecl = 2,
    CXCursor_UnionDecl = 3,
    CXCursor_FieldDecl = 6,
    CXCursor_EnumDecl = 5,
    CXCursor_EnumConstantDecl = 7,
    CXCursor_VarDecl = 9,
    CXCursor_TypedefDecl = 20,
    CXCursor_PackedAttr = 408,
    CXCursor_MacroDefinition = 501,
}

internal enum CXTypeKind
{
    CXType_Invalid = 0,
    CXType_Void = 2,
    CXType_Bool = 3,
    CXType_Char_U = 4,
    CXType_UChar = 5,
    CXType_UShort = 8,
    CXType_UInt = 9,
    CXType_ULong = 10,
    CXType_ULongLong = 11,
    CXType_UInt128 = 12,
    CXType_Char_S = 13,
    CXType_SChar = 14,
    CXType_Short = 16,
    CXType_Int = 17,
    CXType_Long = 18,
    CXType_LongLong = 19,
    CXType_Int128 = 20,
    CXType_Float = 21,
    CXType_Double = 22,
    CXType_LongDouble = 23,
    CXType_Pointer = 101,
    CXType_Record = 105,
    CXType_Enum = 106,
    CXType_Typedef = 107,
    CXType_FunctionProto = 111,
    CXType_ConstantArray = 112,
    CXType_IncompleteArray = 114,
    CXType_VariableArray = 115,
    CXType_Elaborated = 119,
}

internal enum CXChildVisitResult
{
    CXChildVisit_Break = 0,
    CXChildVisit_Continue = 1,
    CXChildVisit_Recurse = 2,
}

internal enum CXVisitorResult
{
    CXVisit_Break = 0,
    CXVisit_Continue = 1,
}

internal enum CXEvalResultKind
{
    CXEval_Int = 1,
}

internal enum CXDiagnosticSeverity
{
    CXDiagnostic_Ignored = 0,
    CXDiagnostic_Note = 1,
    CXDiagnostic_Warning = 2,
    CXDiagnostic_Error = 3,
    CXDiagnostic_Fatal = 4,
}

[System.Flags]
internal enum CXTranslationUnit_Flags : uint
{
    CXTranslationUnit_DetailedPreprocessingRecord = 0x01,
    CXTranslationUnit_SkipFunctionBodies = 0x40,
    CXTranslationUnit_KeepGoing = 0x200,
}
