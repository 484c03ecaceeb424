using System.Text;

namespace VirtioMedia.Generator.Interop;

/// <summary>NUL-terminated UTF-8 strings to and from native memory.</summary>
internal static unsafe class Utf8
{
    public static string Decode(byte* text)
    {
        var length = 0;
        while (text[length] != 0)
        {
            length++;
        }
        return Encoding.UTF8.GetString(text, length);
    }

    /// <summary>The UTF-8 bytes of <paramref name="text"/> followed by a NUL, ready to pin.</summary>
    public static byte[] Encode(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
        return bytes;
    }
}
