using System;
using System.Runtime.InteropServices;
using VirtioMedia.Abi;

namespace VirtioMedia.Runtime.Wire;

/// <summary>
/// One ioctl with its payload and trailers (array elements, SG entries, UUIDs), in buffers reserved once at
/// construction for the largest payload and the largest counts the trailer table allows, so encoding and
/// decoding allocate nothing. Reuse an instance per in-flight command.
/// </summary>
public sealed class IoctlMessage
{
    /// <summary>The SG entries a message holds unless told otherwise.</summary>
    public const int DefaultSgCapacity = 1024;

    private static readonly int MaxPayloadSize = MaxOf(static d => d.PayloadSize);
    private static readonly int MaxElementBytes = MaxOfRules(static r => r.Array is null ? 0 : r.Array.MaxCount * r.Array.ElementSize);
    private static readonly int MaxElements = MaxOfRules(static r => r.Array?.MaxCount ?? 1);
    private static readonly int MaxPreservedElementBytes = MaxOfRules(static r => r.Array is null || !HasElementPreserve(r) ? 0 : r.Array.MaxCount * r.Array.ElementSize);

    private readonly byte[] _payload = new byte[MaxPayloadSize];
    private readonly byte[] _elements = new byte[MaxElementBytes];
    private readonly byte[] _uuids = new byte[MaxElements * UuidSize];
    private readonly virtio_media_sg_entry[] _sg;
    private readonly int[] _sgListStarts = new int[MaxElements + 1];
    // What the request carried, for the fields the device role must return unchanged (TrailerRule.Preserve).
    private readonly byte[] _requestPayload = new byte[MaxPayloadSize];
    private readonly byte[] _requestElements = new byte[MaxPreservedElementBytes];
    private int _elementCount;
    private int _sgEntryCount;
    private int _uuidCount;

    /// <summary>The size of a virtio object UUID.</summary>
    public const int UuidSize = 16;

    /// <summary>Reserves room for <paramref name="sgCapacity"/> SG entries in total; a request that needs more is refused with ENOMEM.</summary>
    public IoctlMessage(int sgCapacity = DefaultSgCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sgCapacity);
        _sg = new virtio_media_sg_entry[sgCapacity];
    }

    /// <summary>The ioctl, or null before <see cref="Reset"/> or after a decode that failed before identifying it.</summary>
    public IoctlDescriptor? Ioctl { get; private set; }

    /// <summary>The trailer rule of the ioctl's payload, or null when it has none.</summary>
    public TrailerRule? Rule { get; private set; }

    /// <summary>The session the ioctl runs on.</summary>
    public uint SessionId { get; set; }

    /// <summary>The payload bytes (64-bit little-endian layout), <c>PayloadSize</c> long.</summary>
    public Span<byte> Payload => _payload.AsSpan(0, Ioctl?.PayloadSize ?? 0);

    /// <summary>The payload as its struct; <typeparamref name="T"/> must be the ioctl's payload type.</summary>
    public ref T PayloadAs<T>()
        where T : unmanaged
    {
        if (Ioctl?.PayloadType != typeof(T))
        {
            throw new InvalidOperationException($"the payload of {Ioctl?.Name ?? "no ioctl"} is not a {typeof(T).Name}");
        }
        return ref MemoryMarshal.AsRef<T>(Payload);
    }

    /// <summary>The number of array elements (planes, controls) that follow the payload.</summary>
    public int ElementCount
    {
        get => _elementCount;
        set
        {
            var size = Rule?.Array?.ElementSize ?? 0;
            if (value < 0 || (long)value * size > _elements.Length || (size == 0 && value != 0))
            {
                throw new ArgumentOutOfRangeException(nameof(value), "more elements than the trailer table allows, or a payload without an array");
            }
            _elementCount = value;
        }
    }

    /// <summary>The array elements' bytes.</summary>
    public Span<byte> Elements => _elements.AsSpan(0, _elementCount * (Rule?.Array?.ElementSize ?? 0));

    /// <summary>The array elements as structs; <typeparamref name="T"/> must be the element type.</summary>
    public Span<T> ElementsAs<T>()
        where T : unmanaged
    {
        if (Rule?.Array?.ElementType != typeof(T))
        {
            throw new InvalidOperationException($"the elements of {Ioctl?.Name ?? "no ioctl"} are not {typeof(T).Name}");
        }
        return MemoryMarshal.Cast<byte, T>(Elements);
    }

    /// <summary>The number of SG entries, all lists concatenated in wire order.</summary>
    public int SgEntryCount
    {
        get => _sgEntryCount;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, _sg.Length);
            _sgEntryCount = value;
        }
    }

    /// <summary>The SG entries, all lists concatenated in wire order.</summary>
    public Span<virtio_media_sg_entry> SgEntries => _sg.AsSpan(0, _sgEntryCount);

    /// <summary>The number of SG lists a decoded request carried.</summary>
    public int SgListCount { get; private set; }

    /// <summary>One SG list of a decoded request (index = element index, or 0 for the payload's list).</summary>
    public ReadOnlySpan<virtio_media_sg_entry> SgList(int index)
    {
        if ((uint)index >= (uint)SgListCount)
        {
            throw new ArgumentOutOfRangeException(nameof(index));
        }
        return _sg.AsSpan(_sgListStarts[index], _sgListStarts[index + 1] - _sgListStarts[index]);
    }

    /// <summary>The number of UUIDs.</summary>
    public int UuidCount
    {
        get => _uuidCount;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, _uuids.Length / UuidSize);
            _uuidCount = value;
        }
    }

    /// <summary>The UUIDs, 16 bytes each.</summary>
    public Span<byte> Uuids => _uuids.AsSpan(0, _uuidCount * UuidSize);

    /// <summary>The SG capacity.</summary>
    public int SgCapacity => _sg.Length;

    /// <summary>Elements the device-writable part carries back (fixed by the request).</summary>
    internal int ResponseElementCount { get; set; }

    /// <summary>UUIDs the device-writable part carries back (fixed by the request).</summary>
    internal int ResponseUuidCount { get; set; }

    /// <summary>The array pointer as the driver sent it, restored by the device role; null when there is none.</summary>
    internal ulong? RequestPointer { get; set; }

    /// <summary>Starts a new ioctl: clears the payload and every trailer.</summary>
    public void Reset(IoctlDescriptor ioctl, uint sessionId)
    {
        ArgumentNullException.ThrowIfNull(ioctl);
        if (ioctl.PayloadSize > _payload.Length)
        {
            throw new ArgumentException("payload larger than any ioctl of the table", nameof(ioctl));
        }
        Ioctl = ioctl;
        Rule = Trailers.Find(ioctl.PayloadType);
        SessionId = sessionId;
        Array.Clear(_payload);
        _elementCount = 0;
        _sgEntryCount = 0;
        _uuidCount = 0;
        SgListCount = 0;
        ResponseElementCount = 0;
        ResponseUuidCount = 0;
        RequestPointer = null;
        HasRequestCopy = false;
    }

    /// <summary>Forgets the ioctl (a decode that fails before identifying it).</summary>
    internal void Clear()
    {
        Ioctl = null;
        Rule = null;
        _elementCount = _sgEntryCount = _uuidCount = 0;
        SgListCount = 0;
        ResponseElementCount = ResponseUuidCount = 0;
        RequestPointer = null;
        HasRequestCopy = false;
    }

    /// <summary>Whether <see cref="KeepRequestCopy"/> ran for the current request.</summary>
    internal bool HasRequestCopy { get; private set; }

    /// <summary>Keeps the request's payload, and its elements when the rule preserves element fields, so the
    /// response can restore the preserved fields.</summary>
    internal void KeepRequestCopy()
    {
        if (Rule is not { Preserve.Count: > 0 } rule)
        {
            return;
        }
        Payload.CopyTo(_requestPayload);
        if (HasElementPreserve(rule))
        {
            Elements.CopyTo(_requestElements);
        }
        HasRequestCopy = true;
    }

    /// <summary>Writes the preserved fields back from the request copy into the payload and the first
    /// <paramref name="elementCount"/> elements.</summary>
    internal void RestorePreserved(int elementCount)
    {
        if (!HasRequestCopy || Rule is not { } rule)
        {
            return;
        }
        var request = _requestPayload.AsSpan(0, Ioctl!.PayloadSize);
        var payload = Payload;
        var elementSize = rule.Array?.ElementSize ?? 0;
        for (var i = 0; i < rule.Preserve.Count; i++)
        {
            var preserve = rule.Preserve[i];
            if (!preserve.When.Matches(request))
            {
                continue;
            }
            if (!preserve.InElement)
            {
                request.Slice(preserve.Offset, preserve.Size).CopyTo(payload.Slice(preserve.Offset));
                continue;
            }
            for (var element = 0; element < elementCount; element++)
            {
                var at = element * elementSize + preserve.Offset;
                _requestElements.AsSpan(at, preserve.Size).CopyTo(_elements.AsSpan(at));
            }
        }
    }

    private static bool HasElementPreserve(TrailerRule rule)
    {
        for (var i = 0; i < rule.Preserve.Count; i++)
        {
            if (rule.Preserve[i].InElement)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Records the SG list boundaries of a decoded request.</summary>
    internal Span<int> SgListStarts(int lists)
    {
        SgListCount = lists;
        return _sgListStarts.AsSpan(0, lists + 1);
    }

    /// <summary>The first <paramref name="count"/> elements' bytes, whatever <see cref="ElementCount"/> says.</summary>
    internal ReadOnlySpan<byte> ElementBuffer(int count) => _elements.AsSpan(0, count * (Rule?.Array?.ElementSize ?? 0));

    /// <summary>The first <paramref name="count"/> UUIDs, whatever <see cref="UuidCount"/> says.</summary>
    internal ReadOnlySpan<byte> UuidBuffer(int count) => _uuids.AsSpan(0, count * UuidSize);

    /// <summary>The SG buffer, for the decoder.</summary>
    internal Span<virtio_media_sg_entry> SgBuffer => _sg;

    private static int MaxOf(Func<IoctlDescriptor, int> selector)
    {
        var max = 0;
        foreach (var descriptor in Ioctls.All)
        {
            max = Math.Max(max, selector(descriptor));
        }
        return max;
    }

    private static int MaxOfRules(Func<TrailerRule, int> selector)
    {
        var max = 1;
        foreach (var rule in Trailers.All)
        {
            max = Math.Max(max, selector(rule));
        }
        return max;
    }
}
