namespace VirtioMedia.Generator.Model;

/// <summary>An integer constant: an object-like macro that evaluates, or an enumerator.</summary>
/// <param name="Name">The exact C name.</param>
/// <param name="Type">The C# type of the C expression's type (int, uint, long, ulong, ...).</param>
/// <param name="Value">The value as a C# literal of that type.</param>
/// <param name="IsNegative">Whether the value is below zero.</param>
/// <param name="Header">The include path of the header that defines it.</param>
public sealed record ConstantDesc(string Name, string Type, string Value, bool IsNegative, string Header);

/// <summary>An object-like macro that is not an integer constant, and why.</summary>
public sealed record MacroNote(string Name, string Header, int Line, string Body, string Reason);
