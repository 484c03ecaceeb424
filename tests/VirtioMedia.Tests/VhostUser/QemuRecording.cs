using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace VirtioMedia.Tests.VhostUser;

/// <summary>
/// A vhost-user session of a real QEMU recorded with the back-end's message trace (Recordings/*.trace,
/// made by Recordings/record-qemu.sh): one message a line, read here with a parser of its own so the
/// tests do not trust the library's formatter. Comment lines (#) are skipped.
/// </summary>
internal sealed class QemuRecording
{
    private QemuRecording(string name, IReadOnlyList<RecordedMessage> messages)
    {
        Name = name;
        Messages = messages;
    }

    public string Name { get; }

    public IReadOnlyList<RecordedMessage> Messages { get; }

    public static string Folder => Path.Combine(Repository.Root, "tests", "VirtioMedia.Tests", "VhostUser", "Recordings");

    public static QemuRecording Load(string name) => Parse(name, File.ReadLines(Path.Combine(Folder, name + ".trace")));

    /// <summary>Reads trace lines (a recording, or lines a back-end traced just now).</summary>
    public static QemuRecording Parse(string name, IEnumerable<string> lines)
    {
        var messages = new List<RecordedMessage>();
        var number = 0;
        foreach (var line in lines)
        {
            number++;
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            // "main F>B 5 SET_MEM_TABLE flags=0x9 size=40 fds=1 0100…"
            var fields = line.Split(' ');
            if (fields.Length != 8 || !fields[4].StartsWith("flags=0x") || !fields[5].StartsWith("size=") || !fields[6].StartsWith("fds="))
            {
                throw new FormatException($"{name}.trace:{number}: not a message line: {line}");
            }
            var payload = fields[7] == "-" ? [] : Convert.FromHexString(fields[7]);
            var size = int.Parse(fields[5]["size=".Length..], CultureInfo.InvariantCulture);
            if (payload.Length != size)
            {
                throw new FormatException($"{name}.trace:{number}: size {size} but {payload.Length} payload bytes");
            }
            messages.Add(new RecordedMessage(
                number,
                fields[0] == "backend",
                fields[1] == "F>B",
                uint.Parse(fields[2], CultureInfo.InvariantCulture),
                fields[3],
                uint.Parse(fields[4]["flags=0x".Length..], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                payload,
                int.Parse(fields[6]["fds=".Length..], CultureInfo.InvariantCulture)));
        }
        return new QemuRecording(name, messages);
    }
}
