using System;
using System.Text;
using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Wire;

/// <summary>The device configuration layout (<c>virtio_media_config</c>, 40 bytes).</summary>
public static class ConfigSpace
{
    /// <summary>The size of the configuration layout.</summary>
    public const int Size = 40;

    /// <summary>Builds a configuration; <paramref name="card"/> is truncated to 31 UTF-8 bytes at a character boundary,
    /// so that a NUL always ends it: the Linux driver copies the 32 bytes into QUERYCAP's card as they are
    /// (virtio_media_ioctls.c, virtio_cread_bytes), and v4l2-compliance fails QUERYCAP on a card without its NUL
    /// (v4l2-compliance.cpp, check_string: "string not 0-terminated").</summary>
    public static virtio_media_config Create(uint deviceCaps, uint deviceType, string card)
    {
        var config = new virtio_media_config { device_caps = deviceCaps, device_type = deviceType };
        Span<byte> bytes = config.card;
        var length = Encoding.UTF8.GetByteCount(card);
        while (length > bytes.Length - 1)
        {
            card = card.Substring(0, card.Length - (char.IsLowSurrogate(card[card.Length - 1]) && card.Length > 1 ? 2 : 1));
            length = Encoding.UTF8.GetByteCount(card);
        }
        Encoding.UTF8.GetBytes(card, bytes);
        return config;
    }

    /// <summary>Writes the layout into <paramref name="destination"/> (at least <see cref="Size"/> bytes).</summary>
    public static bool TryEncode(in virtio_media_config config, Span<byte> destination)
        => System.Runtime.InteropServices.MemoryMarshal.TryWrite(destination, in config);

    /// <summary>Reads the layout from <paramref name="source"/> (at least <see cref="Size"/> bytes).</summary>
    public static bool TryDecode(ReadOnlySpan<byte> source, out virtio_media_config config)
        => System.Runtime.InteropServices.MemoryMarshal.TryRead(source, out config);

    /// <summary>The card name: UTF-8 up to the first NUL, or all 32 bytes when none (the spec allows that).</summary>
    public static string Card(in virtio_media_config config)
    {
        ReadOnlySpan<byte> bytes = config.card;
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes.Slice(0, end));
    }
}
