using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using VirtioMedia.Generator.Interop;
using VirtioMedia.Generator.Model;
using static VirtioMedia.Generator.Interop.LibClang;

namespace VirtioMedia.Generator.Extraction;

// Object-like macros: evaluated by clang itself in a probe unit that declares one constant per macro,
// so every value is the C value with the C type (TOOLCHAIN.md). _IO* macros also become ioctls.
public sealed unsafe partial class HeaderParser
{
    private const string ValuePrefix = "__vm_value_";
    private const string NumberPrefix = "__vm_nr_";
    private const string DirectionPrefix = "__vm_dir_";
    private const string SizePrefix = "__vm_size_";
    private const string PayloadPrefix = "__vm_payload_";

    private static readonly Dictionary<string, int> IoctlMacroDirections = new(StringComparer.Ordinal)
    {
        ["_IO"] = 0,
        ["_IOW"] = 1,
        ["_IOR"] = 2,
        ["_IOWR"] = 3,
    };

    private sealed class MacroCandidate
    {
        public MacroCandidate(CXCursor cursor, string name, List<string> body)
        {
            Cursor = cursor;
            Name = name;
            Body = body;
        }

        public CXCursor Cursor { get; }
        public string Name { get; }
        public List<string> Body { get; }
        public int ProbeLine { get; set; }
        public string? IoctlMacro { get; set; }
        public string PayloadTokens { get; set; } = string.Empty;
        public Dictionary<string, (ulong Value, bool Negative, string Type)> Values { get; } = new(StringComparer.Ordinal);
        public string? Failure { get; set; }
        public CXType? Payload { get; set; }
    }

    private sealed class MacroValues
    {
        public List<ConstantDesc> Constants { get; } = new();
        public List<IoctlDesc> Ioctls { get; } = new();
        public List<MacroNote> Skipped { get; } = new();
    }

    private MacroValues EvaluateMacros(TranslationUnit unit, List<CXCursor> macros, string includes)
    {
        var candidates = new List<MacroCandidate>();
        foreach (var macro in macros)
        {
            if (clang_Cursor_isMacroFunctionLike(macro) != 0)
            {
                continue; // a function-like macro is not a value
            }
            var tokens = Tokens(unit.Handle, macro);
            if (tokens.Count < 2)
            {
                continue; // include guards and empty annotations (__user) have no value to give
            }
            var candidate = new MacroCandidate(macro, tokens[0], tokens.Skip(1).ToList());
            DetectIoctl(candidate);
            candidates.Add(candidate);
        }

        var probe = new StringBuilder(includes);
        var line = includes.Count(c => c == '\n') + 1;
        for (var i = 0; i < candidates.Count; i++)
        {
            var candidate = candidates[i];
            var index = i.ToString(CultureInfo.InvariantCulture);
            candidate.ProbeLine = line;
            probe.Append("static const __auto_type ").Append(ValuePrefix).Append(index).Append(" = (").Append(candidate.Name).Append(");");
            if (candidate.IoctlMacro is not null)
            {
                probe.Append(" static const unsigned long long ").Append(NumberPrefix).Append(index).Append(" = _IOC_NR(").Append(candidate.Name).Append(");");
                probe.Append(" static const unsigned long long ").Append(DirectionPrefix).Append(index).Append(" = _IOC_DIR(").Append(candidate.Name).Append(");");
                probe.Append(" static const unsigned long long ").Append(SizePrefix).Append(index).Append(" = _IOC_SIZE(").Append(candidate.Name).Append(");");
                if (candidate.PayloadTokens.Length > 0)
                {
                    probe.Append(" extern ").Append(candidate.PayloadTokens).Append(' ').Append(PayloadPrefix).Append(index).Append(';');
                }
            }
            probe.Append('\n');
            line++;
        }

        using var probeUnit = TranslationUnit.Parse(_set, ProbeFileName, probe.ToString(), detailedPreprocessing: false, errorLimit: 0, out var errorCode);
        if (errorCode != 0)
        {
            _diagnostics.Add(new DiagnosticDesc(Diagnostics.ParseFailedId, $"libclang failed to parse the macro probe (CXErrorCode {errorCode}).", string.Empty, 0));
            return new MacroValues();
        }

        // The first error on a macro's probe line says why it does not evaluate (GENMASK undeclared, ...).
        var probeErrors = new Dictionary<int, string>();
        foreach (var (file, errorLine, message) in probeUnit.Errors())
        {
            if (file.EndsWith(ProbeFileName, StringComparison.Ordinal) && !probeErrors.ContainsKey(errorLine))
            {
                probeErrors[errorLine] = message;
            }
        }

        foreach (var variable in Children(probeUnit.Cursor))
        {
            if (variable.kind == CXCursorKind.CXCursor_VarDecl)
            {
                ReadProbeVariable(variable, candidates);
            }
        }

        var result = new MacroValues();
        foreach (var candidate in candidates)
        {
            var header = HeaderOf(candidate.Cursor) ?? string.Empty;
            if (!candidate.Values.TryGetValue(ValuePrefix, out var value))
            {
                var reason = probeErrors.TryGetValue(candidate.ProbeLine, out var error)
                    ? error
                    : candidate.Failure ?? "does not evaluate to an integer constant";
                result.Skipped.Add(new MacroNote(candidate.Name, header, LineOf(candidate.Cursor), string.Join(" ", candidate.Body), reason));
                continue;
            }
            result.Constants.Add(new ConstantDesc(candidate.Name, value.Type, Literal(value.Value, value.Negative), value.Negative, header));
            if (candidate.IoctlMacro is not null)
            {
                AddIoctl(candidate, value.Value, result.Ioctls);
            }
        }
        return result;
    }

    /// <summary>Recognises <c>_IOWR('V', 4, struct v4l2_format)</c> and keeps the payload's tokens.</summary>
    private static void DetectIoctl(MacroCandidate candidate)
    {
        var body = candidate.Body;
        if (body.Count < 4 || !IoctlMacroDirections.ContainsKey(body[0]) || body[1] != "(" || body[body.Count - 1] != ")")
        {
            return;
        }
        var arguments = new List<List<string>> { new() };
        var depth = 0;
        for (var i = 2; i < body.Count - 1; i++)
        {
            var token = body[i];
            if (token == "," && depth == 0)
            {
                arguments.Add(new List<string>());
                continue;
            }
            depth += token == "(" ? 1 : token == ")" ? -1 : 0;
            arguments[arguments.Count - 1].Add(token);
        }
        var expected = body[0] == "_IO" ? 2 : 3;
        if (arguments.Count != expected)
        {
            return;
        }
        candidate.IoctlMacro = body[0];
        candidate.PayloadTokens = expected == 3 ? string.Join(" ", arguments[2]) : string.Empty;
    }

    private void ReadProbeVariable(CXCursor variable, List<MacroCandidate> candidates)
    {
        var name = Spelling(variable);
        foreach (var prefix in new[] { ValuePrefix, NumberPrefix, DirectionPrefix, SizePrefix, PayloadPrefix })
        {
            if (!name.StartsWith(prefix, StringComparison.Ordinal)
                || !int.TryParse(name.Substring(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                || index >= candidates.Count)
            {
                continue;
            }
            var candidate = candidates[index];
            if (prefix == PayloadPrefix)
            {
                candidate.Payload = clang_getCursorType(variable);
                return;
            }
            var type = MapBuiltin(clang_getCanonicalType(clang_getCursorType(variable)));
            if (type is null || type is "float" or "double")
            {
                if (prefix == ValuePrefix)
                {
                    candidate.Failure = $"is of type '{Spelling(clang_getCursorType(variable))}', not an integer";
                }
                return;
            }
            var evaluation = clang_Cursor_Evaluate(variable);
            if (evaluation == null)
            {
                return;
            }
            try
            {
                if (clang_EvalResult_getKind(evaluation) != CXEvalResultKind.CXEval_Int)
                {
                    return;
                }
                var isUnsigned = clang_EvalResult_isUnsignedInt(evaluation) != 0;
                var bits = isUnsigned ? clang_EvalResult_getAsUnsigned(evaluation) : unchecked((ulong)clang_EvalResult_getAsLongLong(evaluation));
                var negative = !isUnsigned && unchecked((long)bits) < 0;
                candidate.Values[prefix] = (bits, negative, type);
            }
            finally
            {
                clang_EvalResult_dispose(evaluation);
            }
            return;
        }
    }

    private void AddIoctl(MacroCandidate candidate, ulong request, List<IoctlDesc> ioctls)
    {
        if (!candidate.Values.TryGetValue(NumberPrefix, out var number)
            || !candidate.Values.TryGetValue(DirectionPrefix, out var direction)
            || !candidate.Values.TryGetValue(SizePrefix, out var size))
        {
            Report(Diagnostics.IoctlMismatchId, candidate.Cursor, $"{candidate.Name}: _IOC_NR, _IOC_DIR or _IOC_SIZE does not evaluate; the ioctl is not generated.");
            return;
        }
        var expectedDirection = IoctlMacroDirections[candidate.IoctlMacro!];
        if ((int)direction.Value != expectedDirection)
        {
            Report(Diagnostics.IoctlMismatchId, candidate.Cursor, $"{candidate.Name}: {candidate.IoctlMacro} encodes direction {direction.Value}, expected {expectedDirection}; the ioctl is not generated.");
            return;
        }

        var payloadType = string.Empty;
        var payloadSize = 0L;
        if (candidate.PayloadTokens.Length > 0)
        {
            if (candidate.Payload is not { } payload || (payloadSize = clang_Type_getSizeOf(payload)) < 0)
            {
                Report(Diagnostics.IoctlMismatchId, candidate.Cursor, $"{candidate.Name}: payload type '{candidate.PayloadTokens}' is not a complete type; the ioctl is not generated.");
                return;
            }
            try
            {
                payloadType = MapType(payload, candidate.Name + "_payload", $"{candidate.Name} payload");
            }
            catch (UnmappableException unmappable)
            {
                Report(Diagnostics.IoctlMismatchId, candidate.Cursor, $"{candidate.Name}: {unmappable.Message}; the ioctl is not generated.");
                return;
            }
        }
        if ((long)size.Value != payloadSize)
        {
            Report(Diagnostics.IoctlMismatchId, candidate.Cursor, $"{candidate.Name}: the request encodes a {size.Value}-byte payload but sizeof({candidate.PayloadTokens}) is {payloadSize}; the ioctl is not generated.");
            return;
        }
        ioctls.Add(new IoctlDesc(candidate.Name, request, (int)number.Value, (int)direction.Value, candidate.PayloadTokens, payloadType, (int)payloadSize));
    }

    /// <summary>Macro constants and enumerators in one list by name; a name defined both ways (a
    /// <c>#define X X</c> beside its enumerator) is kept once.</summary>
    private List<ConstantDesc> MergeConstants(List<ConstantDesc> macroConstants)
    {
        var byName = new Dictionary<string, ConstantDesc>(StringComparer.Ordinal);
        foreach (var constant in _enumerators.Concat(macroConstants))
        {
            if (!byName.ContainsKey(constant.Name))
            {
                byName[constant.Name] = constant;
            }
        }
        return byName.Values.OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
    }
}
