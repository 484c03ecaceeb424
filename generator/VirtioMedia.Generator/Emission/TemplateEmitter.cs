using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Scriban;
using Scriban.Runtime;
using VirtioMedia.Generator.Model;

namespace VirtioMedia.Generator.Emission;

/// <summary>Renders an <see cref="AbiModel"/> to C# source files through the embedded Scriban templates.</summary>
public static class TemplateEmitter
{
    /// <summary>The generated files, by hint name, in the order the templates are listed.</summary>
    private static readonly string[] TemplateNames = { "Support", "InlineArrays", "Records", "Enums", "Constants", "Ioctls", "Report", "Trailers", "DeviceHandler", "IoctlCalls" };

    private static readonly Lazy<IReadOnlyList<(string Name, Template Template)>> Templates = new(LoadTemplates);

    /// <summary>Renders every template; the texts depend on the model alone (no paths, no clock, invariant culture).</summary>
    public static IReadOnlyList<(string HintName, string Text)> Emit(AbiModel model) => Emit(model, TrailerSetDesc.Empty);

    /// <summary>Renders every template, the trailer table from <paramref name="trailers"/> (resolved against <paramref name="model"/>).</summary>
    public static IReadOnlyList<(string HintName, string Text)> Emit(AbiModel model, TrailerSetDesc trailers)
    {
        var globals = new ScriptObject();
        globals.Import(model, renamer: member => member.Name);
        globals.Import("hex", new Func<ulong, string>(value => "0x" + value.ToString("X", CultureInfo.InvariantCulture)));
        globals.Import("direction_name", new Func<int, string>(DirectionName));
        globals.Import("direction_summary", new Func<int, string>(DirectionSummary));
        globals.Import("csharp_string", new Func<string, string>(CSharpString));
        globals.Import("identifier", new Func<string, string>(Extraction.Naming.EscapeIdentifier));
        globals["UniqueIoctls"] = model.Ioctls.GroupBy(i => i.Number).Where(g => g.Count() == 1).Select(g => g.Single()).ToList();
        globals["TrailerRules"] = trailers.Rules.ToList();
        globals["UnsupportedIoctls"] = model.Ioctls.Where(i => trailers.UnsupportedIoctls.Contains(i.Name)).ToList();
        // The device handler answers in errno values taken from the headers (linux/errno.h); a header set
        // without them (a fixture) gets no handler rather than numbers written here.
        globals["HasErrnoConstants"] = HasConstant(model, "ENOTTY") && HasConstant(model, "EINVAL");
        // The SG lists of driver-side extras are typed only when the protocol header is in the set.
        globals["HasSgEntry"] = model.Records.Any(r => r.Name == "virtio_media_sg_entry");

        var outputs = new List<(string, string)>();
        foreach (var (name, template) in Templates.Value)
        {
            var context = new TemplateContext { MemberRenamer = member => member.Name, LoopLimit = 0, StrictVariables = true };
            context.PushCulture(CultureInfo.InvariantCulture);
            context.PushGlobal(globals);
            var text = template.Render(context).Replace("\r\n", "\n");
            outputs.Add((model.Namespace + "." + name + ".g.cs", text));
        }
        return outputs;
    }

    /// <summary>Each _IOC_DIR value (the index): its IoctlDirection member, and what happens to the payload in a few
    /// words for the XML docs.</summary>
    private static readonly (string Name, string Summary)[] Directions =
    {
        ("None", "no payload"),
        ("Write", "the payload goes to the device"),
        ("Read", "the device fills the payload"),
        ("ReadWrite", "the payload goes to the device, which updates it"),
    };

    private static string DirectionName(int direction) => DirectionOf(direction).Name;

    private static string DirectionSummary(int direction) => DirectionOf(direction).Summary;

    private static (string Name, string Summary) DirectionOf(int direction) =>
        direction >= 0 && direction < Directions.Length ? Directions[direction] : throw new ArgumentOutOfRangeException(nameof(direction));

    private static bool HasConstant(AbiModel model, string name) => model.Constants.Any(c => c.Name == name);

    private static string CSharpString(string text) => "\"" + text.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    private static IReadOnlyList<(string, Template)> LoadTemplates()
    {
        var assembly = typeof(TemplateEmitter).Assembly;
        var templates = new List<(string, Template)>();
        foreach (var name in TemplateNames)
        {
            var resource = "VirtioMedia.Generator.Templates." + name + ".scriban";
            using var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException("missing embedded template " + resource);
            using var reader = new StreamReader(stream);
            var template = Template.Parse(reader.ReadToEnd(), resource);
            if (template.HasErrors)
            {
                throw new InvalidOperationException("template " + resource + ": " + string.Join("; ", template.Messages));
            }
            templates.Add((name, template));
        }
        return templates;
    }
}
