using System;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Wire;

namespace VirtioMedia.Benchmarks;

/// <summary>
/// One ioctl's full trip: driver encodes the command, device decodes it, device encodes the response, driver
/// decodes it. Three ways: the generated codec over three-segment chains, the Marshal.StructureToPtr /
/// PtrToStructure code a user would write by hand (same bytes, one contiguous unmanaged buffer per part, no
/// checks), and a plain copy of the same bytes through the same number of buffers (the floor).
/// </summary>
public abstract class IoctlRoundTrip
{
    private IoctlMessage _driver = null!;
    private IoctlMessage _device = null!;
    private Chain _request = null!;
    private Chain _response = null!;
    private byte[] _driverRequest = null!;
    private byte[] _deviceRequest = null!;
    private byte[] _deviceResponse = null!;
    private byte[] _driverResponse = null!;

    /// <summary>Unmanaged request and response buffers of the hand-written baseline.</summary>
    protected IntPtr RequestBuffer { get; private set; }

    protected IntPtr ResponseBuffer { get; private set; }

    /// <summary>Fills the driver's message with the ioctl, payload and trailers under test.</summary>
    protected abstract void Fill(IoctlMessage driver);

    /// <summary>The hand-written round trip over <see cref="RequestBuffer"/> and <see cref="ResponseBuffer"/>.</summary>
    protected abstract void MarshalRoundTrip();

    /// <summary>Copies the driver's message into the hand-written baseline's managed structs.</summary>
    protected abstract void FillMarshal(IoctlMessage driver);

    [GlobalSetup]
    public void Setup()
    {
        _driver = new IoctlMessage();
        _device = new IoctlMessage();
        Fill(_driver);

        // Size both parts exactly with one pass over single-segment chains.
        var requestBytes = new byte[4096];
        var writer = new ChainWriter(new Memory<byte>[] { requestBytes });
        Check(IoctlCodec.EncodeRequest(_driver, ref writer));
        var requestLength = (int)writer.Written;
        var reader = new ChainReader(new ReadOnlyMemory<byte>[] { requestBytes.AsMemory(0, requestLength) });
        Check(IoctlCodec.DecodeRequest(ref reader, _device));
        var responseBytes = new byte[4096];
        writer = new ChainWriter(new Memory<byte>[] { responseBytes });
        Check(IoctlCodec.EncodeResponse(_device, 0, true, ref writer));
        var responseLength = (int)writer.Written;

        _request = new Chain(requestLength);
        _response = new Chain(responseLength);
        CodecRoundTrip();

        _driverRequest = requestBytes.AsSpan(0, requestLength).ToArray();
        _deviceRequest = new byte[requestLength];
        _deviceResponse = responseBytes.AsSpan(0, responseLength).ToArray();
        _driverResponse = new byte[responseLength];

        RequestBuffer = Marshal.AllocHGlobal(requestLength);
        ResponseBuffer = Marshal.AllocHGlobal(responseLength);
        FillMarshal(_driver);
        MarshalRoundTrip();
        // The baseline must move the very bytes the codec puts on the wire, or the comparison means nothing.
        CheckSame(RequestBuffer, _request.Bytes, "request");
        CheckSame(ResponseBuffer, _response.Bytes, "response");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Marshal.FreeHGlobal(RequestBuffer);
        Marshal.FreeHGlobal(ResponseBuffer);
    }

    [Benchmark]
    public int IoctlCodec3Segments() => CodecRoundTrip();

    [Benchmark]
    public void MarshalByHand() => MarshalRoundTrip();

    [Benchmark(Baseline = true)]
    public void Memcpy()
    {
        // The codec copies every byte twice (into the chain, out of it), in both directions.
        _driverRequest.AsSpan().CopyTo(_request.Bytes);
        _request.Bytes.AsSpan().CopyTo(_deviceRequest);
        _deviceResponse.AsSpan().CopyTo(_response.Bytes);
        _response.Bytes.AsSpan().CopyTo(_driverResponse);
    }

    private int CodecRoundTrip()
    {
        var writer = new ChainWriter(_request.Writable);
        Check(IoctlCodec.EncodeRequest(_driver, ref writer));
        var reader = new ChainReader(_request.Readable);
        Check(IoctlCodec.DecodeRequest(ref reader, _device));
        writer = new ChainWriter(_response.Writable);
        Check(IoctlCodec.EncodeResponse(_device, 0, true, ref writer));
        reader = new ChainReader(_response.Readable);
        Check(IoctlCodec.DecodeResponse(ref reader, _driver, out var status));
        return status;
    }

    private static void Check(WireResult result)
    {
        if (!result.IsSuccess)
        {
            throw new InvalidOperationException(result.ToString());
        }
    }

    private static void CheckSame(IntPtr buffer, byte[] expected, string part)
    {
        var actual = new byte[expected.Length];
        Marshal.Copy(buffer, actual, 0, actual.Length);
        if (!actual.AsSpan().SequenceEqual(expected))
        {
            throw new InvalidOperationException($"the hand-written baseline's {part} differs from the codec's");
        }
    }

    /// <summary>Writes <paramref name="value"/> at <paramref name="at"/> and returns the address after it.</summary>
    protected static IntPtr Put<T>(IntPtr at, T value)
        where T : struct
    {
        Marshal.StructureToPtr(value, at, false);
        return at + Marshal.SizeOf<T>();
    }

    /// <summary>Reads a <typeparamref name="T"/> at <paramref name="at"/> and returns the address after it.</summary>
    protected static IntPtr Get<T>(IntPtr at, out T value)
        where T : struct
    {
        value = Marshal.PtrToStructure<T>(at);
        return at + Marshal.SizeOf<T>();
    }

    protected static virtio_media_cmd_ioctl Command(IoctlMessage message) => new()
    {
        hdr = new virtio_media_cmd_header { cmd = (uint)Constants.VIRTIO_MEDIA_CMD_IOCTL },
        session_id = message.SessionId,
        code = (uint)message.Ioctl!.Number,
    };
}
