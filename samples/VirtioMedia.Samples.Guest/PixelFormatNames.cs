using System;
using VirtioMedia.Abi;

namespace VirtioMedia.Samples.Guest;

/// <summary>Fourcc codes and their names.</summary>
public static class PixelFormatNames
{
    /// <summary>The formats the command line accepts, by name.</summary>
    public static readonly (string Name, uint Fourcc)[] Known =
    [
        ("YUYV", Constants.V4L2_PIX_FMT_YUYV),
        ("NV12", Constants.V4L2_PIX_FMT_NV12),
        ("NV12M", Constants.V4L2_PIX_FMT_NV12M),
        ("RGB24", Constants.V4L2_PIX_FMT_RGB24),
    ];

    /// <summary>The fourcc's name (<c>RGB3</c> style when it is not one of <see cref="Known"/>).</summary>
    public static string Name(uint fourcc)
    {
        foreach (var (name, code) in Known)
        {
            if (code == fourcc)
            {
                return name;
            }
        }
        Span<char> chars = stackalloc char[4];
        for (var i = 0; i < 4; i++)
        {
            var c = (char)((fourcc >> (8 * i)) & 0xFF);
            chars[i] = c is >= ' ' and <= '~' ? c : '?';
        }
        return new string(chars);
    }

    /// <summary>Finds a format by name, case-insensitively.</summary>
    public static bool TryParse(string name, out uint fourcc)
    {
        foreach (var (known, code) in Known)
        {
            if (string.Equals(known, name, StringComparison.OrdinalIgnoreCase))
            {
                fourcc = code;
                return true;
            }
        }
        fourcc = 0;
        return false;
    }
}
