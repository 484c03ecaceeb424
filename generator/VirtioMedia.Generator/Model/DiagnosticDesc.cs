namespace VirtioMedia.Generator.Model;

/// <summary>A problem found while parsing, kept as plain values so the model stays comparable.</summary>
/// <param name="Id">The diagnostic id (VMGxxx).</param>
/// <param name="Message">The complete message.</param>
/// <param name="SourcePath">The file it concerns, or empty.</param>
/// <param name="Line">The 1-based line, or 0.</param>
public sealed record DiagnosticDesc(string Id, string Message, string SourcePath, int Line);
