using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace VirtioMedia.Generator;

/// <summary>The generator's diagnostics. Every problem that could make a layout uncertain is an error.</summary>
public static class Diagnostics
{
    public const string LibClangMissingId = "VMG001";
    public const string LibClangTooOldId = "VMG002";
    public const string HeaderErrorId = "VMG003";
    public const string UnmappableId = "VMG004";
    public const string IoctlMismatchId = "VMG005";
    public const string NoEntryHeaderId = "VMG006";
    public const string NameClashId = "VMG007";
    public const string ParseFailedId = "VMG008";
    public const string TrailerRuleId = "VMG009";

    private const string Category = "VirtioMedia.Generator";

    private static readonly Dictionary<string, DiagnosticDescriptor> ById = new()
    {
        [LibClangMissingId] = Error(LibClangMissingId, "libclang not found"),
        [LibClangTooOldId] = Error(LibClangTooOldId, "libclang too old"),
        [HeaderErrorId] = Error(HeaderErrorId, "Error in a C header"),
        [UnmappableId] = Error(UnmappableId, "C construct without an exact C# layout"),
        [IoctlMismatchId] = Error(IoctlMismatchId, "Ioctl request does not match its payload"),
        [NoEntryHeaderId] = Error(NoEntryHeaderId, "No entry header"),
        [NameClashId] = Error(NameClashId, "Generated name clash"),
        [ParseFailedId] = Error(ParseFailedId, "libclang could not parse"),
        [TrailerRuleId] = Error(TrailerRuleId, "Trailer description does not match the headers"),
    };

    /// <summary>The descriptor of an id; messages are complete, so every format is "{0}".</summary>
    public static DiagnosticDescriptor Descriptor(string id) => ById[id];

    private static DiagnosticDescriptor Error(string id, string title) =>
        new(id, title, "{0}", Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
}
