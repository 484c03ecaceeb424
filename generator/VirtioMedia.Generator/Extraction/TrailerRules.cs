using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using VirtioMedia.Generator.Model;

namespace VirtioMedia.Generator.Extraction;

/// <summary>
/// Reads the trailer description (abi-headers/virtio-media/trailers.json) and resolves it against an
/// <see cref="AbiModel"/>: every struct, field and ioctl it names must exist with the expected width, so the
/// emitted table carries exact byte offsets. Never throws; every problem is a VMG009 diagnostic.
/// </summary>
public static class TrailerRules
{
    /// <summary>Parses <paramref name="json"/> and resolves it; <paramref name="sourcePath"/> only labels diagnostics.</summary>
    public static TrailerSetDesc Resolve(string json, AbiModel model, string sourcePath)
    {
        var problems = new List<string>();
        var rules = new List<TrailerRuleDesc>();
        var unsupported = new List<string>();
        try
        {
            var root = AsObject(new JsonReader(json).ReadDocument(), "the document", problems);
            if (root is not null)
            {
                CheckKeys(root, "the document", problems, "comment", "unsupported", "payloads");
                var ioctlNames = new HashSet<string>(model.Ioctls.Select(i => i.Name), StringComparer.Ordinal);
                foreach (var item in AsList(Get(root, "unsupported", "the document", problems), "unsupported", problems))
                {
                    if (item is string name && ioctlNames.Contains(name))
                    {
                        unsupported.Add(name);
                    }
                    else
                    {
                        problems.Add($"unsupported: '{item}' is not an ioctl of the headers");
                    }
                }
                var records = model.Records.ToDictionary(r => r.Name, StringComparer.Ordinal);
                foreach (var item in AsList(Get(root, "payloads", "the document", problems), "payloads", problems))
                {
                    var rule = ResolveRule(item, records, problems);
                    if (rule is not null)
                    {
                        rules.Add(rule);
                    }
                }
            }
        }
        catch (FormatException e)
        {
            problems.Add(e.Message);
        }
        var diagnostics = problems.Select(p => new DiagnosticDesc(Diagnostics.TrailerRuleId, "trailers: " + p, sourcePath, 0)).ToEquatableArray();
        return diagnostics.Count > 0
            ? new TrailerSetDesc(EquatableArray<TrailerRuleDesc>.Empty, EquatableArray<string>.Empty, diagnostics)
            : new TrailerSetDesc(rules.ToEquatableArray(), unsupported.ToEquatableArray(), diagnostics);
    }

    private static TrailerRuleDesc? ResolveRule(object? item, Dictionary<string, RecordDesc> records, List<string> problems)
    {
        var obj = AsObject(item, "a payload", problems);
        if (obj is null || Get(obj, "struct", "a payload", problems) is not string name)
        {
            problems.Add("every payload needs a \"struct\" string");
            return null;
        }
        var where = "payload " + name;
        CheckKeys(obj, where, problems, "struct", "array", "sg", "uuid", "preserve");
        if (!records.TryGetValue(name, out var record))
        {
            problems.Add($"{where}: no struct {name} in the headers");
            return null;
        }

        TrailerArrayDesc? array = null;
        if (obj.TryGetValue("array", out var arrayValue) && AsObject(arrayValue, where + ".array", problems) is { } a)
        {
            var at = where + ".array";
            CheckKeys(a, at, problems, "pointer", "count", "element", "maxCount", "when");
            var element = Get(a, "element", at, problems) as string ?? string.Empty;
            if (!records.TryGetValue(element, out var elementRecord))
            {
                problems.Add($"{at}: no element struct '{element}' in the headers");
            }
            var maxCount = Get(a, "maxCount", at, problems) is long m && m > 0 && m <= 65536 ? (int)m : Fail(problems, at + ": maxCount must be an integer in 1..65536");
            array = new TrailerArrayDesc(
                FieldOffset(record, Get(a, "pointer", at, problems), 8, at + ".pointer", records, problems),
                FieldOffset(record, Get(a, "count", at, problems), 4, at + ".count", records, problems),
                element,
                elementRecord?.Size ?? 0,
                maxCount,
                Condition(record, a, at, records, problems));
        }

        TrailerSgDesc? sg = null;
        if (obj.TryGetValue("sg", out var sgValue) && AsObject(sgValue, where + ".sg", problems) is { } s)
        {
            var at = where + ".sg";
            CheckKeys(s, at, problems, "when", "length", "elementLength", "parts");
            var length = s.TryGetValue("length", out var l) ? FieldOffset(record, l, 4, at + ".length", records, problems) : -1;
            var elementLength = -1;
            if (s.TryGetValue("elementLength", out var el))
            {
                if (array is null || !records.TryGetValue(array.ElementStruct, out var elementRecord))
                {
                    problems.Add($"{at}: elementLength needs an array");
                }
                else
                {
                    elementLength = FieldOffset(elementRecord, el, 4, at + ".elementLength", records, problems);
                }
            }
            sg = new TrailerSgDesc(Condition(record, s, at, records, problems), length, elementLength, Parts(s, at, problems));
        }

        TrailerUuidDesc? uuid = null;
        if (obj.TryGetValue("uuid", out var uuidValue) && AsObject(uuidValue, where + ".uuid", problems) is { } u)
        {
            var at = where + ".uuid";
            CheckKeys(u, at, problems, "when", "parts");
            uuid = new TrailerUuidDesc(Condition(record, u, at, records, problems), Parts(u, at, problems));
        }

        var preserve = new List<TrailerPreserveDesc>();
        if (obj.TryGetValue("preserve", out var preserveValue))
        {
            var index = 0;
            foreach (var entry in AsList(preserveValue, where + ".preserve", problems))
            {
                var at = $"{where}.preserve[{index++}]";
                if (AsObject(entry, at, problems) is not { } p)
                {
                    continue;
                }
                CheckKeys(p, at, problems, "field", "elementField", "when");
                var hasField = p.TryGetValue("field", out var field);
                var hasElementField = p.TryGetValue("elementField", out var elementField);
                if (hasField == hasElementField)
                {
                    problems.Add($"{at}: needs exactly one of 'field' and 'elementField'");
                    continue;
                }
                var owner = record;
                if (hasElementField && (array is null || !records.TryGetValue(array.ElementStruct, out owner)))
                {
                    problems.Add($"{at}: elementField needs an array");
                    continue;
                }
                var (offset, size) = FieldOffsetAndSize(owner!, hasField ? field : elementField, at + (hasField ? ".field" : ".elementField"), records, problems);
                if (offset >= 0 && size != 4 && size != 8)
                {
                    problems.Add($"{at}: a preserved field must be 4 or 8 bytes wide, not {size}");
                }
                preserve.Add(new TrailerPreserveDesc(hasElementField, offset, size, Condition(record, p, at, records, problems)));
            }
        }

        if (array is null && sg is null && uuid is null && preserve.Count == 0)
        {
            problems.Add($"{where}: no trailer");
        }
        return new TrailerRuleDesc(name, record.Size, array, sg, uuid, preserve.ToEquatableArray());
    }

    private static TrailerConditionDesc Condition(RecordDesc record, Dictionary<string, object?> owner, string at, Dictionary<string, RecordDesc> records, List<string> problems)
    {
        if (!owner.TryGetValue("when", out var value))
        {
            return TrailerConditionDesc.Always;
        }
        at += ".when";
        var when = AsObject(value, at, problems);
        if (when is null)
        {
            return TrailerConditionDesc.Always;
        }
        CheckKeys(when, at, problems, "field", "in");
        var offset = FieldOffset(record, Get(when, "field", at, problems), 4, at + ".field", records, problems);
        var values = new List<int>();
        foreach (var item in AsList(Get(when, "in", at, problems), at + ".in", problems))
        {
            if (item is long v && v >= 0 && v <= int.MaxValue)
            {
                values.Add((int)v);
            }
            else
            {
                problems.Add($"{at}.in: '{item}' is not a non-negative 32-bit integer");
            }
        }
        if (values.Count == 0)
        {
            problems.Add($"{at}.in: empty");
        }
        return new TrailerConditionDesc(offset, values.ToEquatableArray());
    }

    private static bool Parts(Dictionary<string, object?> owner, string at, List<string> problems)
    {
        switch (Get(owner, "parts", at, problems))
        {
            case "readable": return true;
            case "payload": return false;
            default:
                problems.Add($"{at}.parts: must be \"readable\" or \"payload\"");
                return false;
        }
    }

    /// <summary>The absolute offset of a dotted field path (<c>m.planes</c>), which must be <paramref name="size"/> bytes wide.</summary>
    private static int FieldOffset(RecordDesc record, object? path, int size, string at, Dictionary<string, RecordDesc> records, List<string> problems)
    {
        var (offset, actual) = FieldOffsetAndSize(record, path, at, records, problems);
        if (offset >= 0 && actual != size)
        {
            return Fail(problems, $"{at}: '{path}' is {actual} bytes, expected {size}");
        }
        return offset;
    }

    /// <summary>The absolute offset and width of a dotted field path, or offset -1 (and a problem) when it names none.</summary>
    private static (int Offset, int Size) FieldOffsetAndSize(RecordDesc record, object? path, string at, Dictionary<string, RecordDesc> records, List<string> problems)
    {
        if (path is not string text || text.Length == 0)
        {
            return (Fail(problems, at + ": must name a field"), 0);
        }
        var offset = 0;
        var current = record;
        FieldDesc? field = null;
        foreach (var part in text.Split('.'))
        {
            if (current is null)
            {
                return (Fail(problems, $"{at}: '{text}' goes through a field that is not a struct or union"), 0);
            }
            field = current.Fields.FirstOrDefault(f => f.Name == part);
            if (field is null)
            {
                return (Fail(problems, $"{at}: {current.Name} has no field '{part}'"), 0);
            }
            offset += field.Offset;
            current = records.TryGetValue(field.Type, out var inner) ? inner : null;
        }
        return (offset, field!.Size);
    }

    private static int Fail(List<string> problems, string message)
    {
        problems.Add(message);
        return -1;
    }

    private static void CheckKeys(Dictionary<string, object?> obj, string at, List<string> problems, params string[] allowed)
    {
        foreach (var key in obj.Keys.Where(k => Array.IndexOf(allowed, k) < 0).OrderBy(k => k, StringComparer.Ordinal))
        {
            problems.Add($"{at}: unknown key '{key}'");
        }
    }

    private static object? Get(Dictionary<string, object?> obj, string key, string at, List<string> problems)
    {
        if (obj.TryGetValue(key, out var value))
        {
            return value;
        }
        problems.Add($"{at}: missing '{key}'");
        return null;
    }

    private static Dictionary<string, object?>? AsObject(object? value, string at, List<string> problems)
    {
        if (value is Dictionary<string, object?> obj)
        {
            return obj;
        }
        problems.Add(at + ": expected an object");
        return null;
    }

    private static List<object?> AsList(object? value, string at, List<string> problems)
    {
        if (value is List<object?> list)
        {
            return list;
        }
        problems.Add(at + ": expected an array");
        return new List<object?>();
    }

    /// <summary>
    /// A strict reader for the subset of JSON the description uses: objects, arrays, strings without
    /// escapes other than \" \\ \/ \n, and integers. netstandard2.0 has no JSON reader of its own, and a
    /// package inside the compiler would have to ship next to the generator.
    /// </summary>
    private sealed class JsonReader
    {
        private const int MaxDepth = 16;
        private readonly string _text;
        private int _position;

        public JsonReader(string text) => _text = text;

        public object? ReadDocument()
        {
            var value = ReadValue(0);
            SkipWhitespace();
            if (_position != _text.Length)
            {
                throw Error("text after the document");
            }
            return value;
        }

        private object? ReadValue(int depth)
        {
            if (depth > MaxDepth)
            {
                throw Error("nested too deeply");
            }
            SkipWhitespace();
            if (_position >= _text.Length)
            {
                throw Error("unexpected end");
            }
            var c = _text[_position];
            if (c == '{')
            {
                _position++;
                var obj = new Dictionary<string, object?>(StringComparer.Ordinal);
                if (TryConsume('}'))
                {
                    return obj;
                }
                do
                {
                    SkipWhitespace();
                    var key = ReadString();
                    Expect(':');
                    if (obj.ContainsKey(key))
                    {
                        throw Error($"duplicate key '{key}'");
                    }
                    obj[key] = ReadValue(depth + 1);
                }
                while (TryConsume(','));
                Expect('}');
                return obj;
            }
            if (c == '[')
            {
                _position++;
                var list = new List<object?>();
                if (TryConsume(']'))
                {
                    return list;
                }
                do
                {
                    list.Add(ReadValue(depth + 1));
                }
                while (TryConsume(','));
                Expect(']');
                return list;
            }
            if (c == '"')
            {
                return ReadString();
            }
            if (c == '-' || (c >= '0' && c <= '9'))
            {
                var start = _position++;
                while (_position < _text.Length && _text[_position] >= '0' && _text[_position] <= '9')
                {
                    _position++;
                }
                if (!long.TryParse(_text.Substring(start, _position - start), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
                {
                    throw Error("bad integer");
                }
                return number;
            }
            throw Error($"unexpected '{c}'");
        }

        private string ReadString()
        {
            if (_position >= _text.Length || _text[_position] != '"')
            {
                throw Error("expected a string");
            }
            _position++;
            var builder = new StringBuilder();
            while (true)
            {
                if (_position >= _text.Length)
                {
                    throw Error("unterminated string");
                }
                var c = _text[_position++];
                if (c == '"')
                {
                    return builder.ToString();
                }
                if (c == '\\')
                {
                    var escaped = _position < _text.Length ? _text[_position++] : '\0';
                    builder.Append(escaped switch
                    {
                        '"' => '"',
                        '\\' => '\\',
                        '/' => '/',
                        'n' => '\n',
                        _ => throw Error("unsupported escape"),
                    });
                }
                else
                {
                    builder.Append(c);
                }
            }
        }

        private void Expect(char c)
        {
            if (!TryConsume(c))
            {
                throw Error($"expected '{c}'");
            }
        }

        private bool TryConsume(char c)
        {
            SkipWhitespace();
            if (_position < _text.Length && _text[_position] == c)
            {
                _position++;
                return true;
            }
            return false;
        }

        private void SkipWhitespace()
        {
            while (_position < _text.Length && char.IsWhiteSpace(_text[_position]))
            {
                _position++;
            }
        }

        private FormatException Error(string message)
        {
            var line = 1;
            for (var i = 0; i < _position && i < _text.Length; i++)
            {
                if (_text[i] == '\n')
                {
                    line++;
                }
            }
            return new FormatException($"line {line}: {message}");
        }
    }
}
