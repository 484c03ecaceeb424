using System;
using System.Collections.Generic;
using System.Text;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Wire;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.TestDevices;

/// <summary>
/// The sample camera with one rule broken: the same configuration space and sessions, each session's handler
/// wrapped in a decorator that changes the answers of that rule's ioctls only. What a DeviceEndpoint needs is
/// here as for the camera: <see cref="Config"/> and <see cref="CreateHandler"/>.
/// </summary>
public sealed class BrokenCamera
{
    /// <summary>A camera with <paramref name="options"/> (defaults when null) breaking <paramref name="rule"/>.</summary>
    public BrokenCamera(BrokenRule rule, CameraOptions? options = null)
    {
        if (!Enum.IsDefined(rule))
        {
            throw new ArgumentOutOfRangeException(nameof(rule), rule, "not a BrokenRule");
        }
        Rule = rule;
        Camera = new VirtualCamera(options);
    }

    /// <summary>The rule broken.</summary>
    public BrokenRule Rule { get; }

    /// <summary>The good camera underneath (its controls, formats and streams).</summary>
    public VirtualCamera Camera { get; }

    /// <summary>The configuration space: the camera's, with STREAMING cleared for <see cref="BrokenRule.DeviceCapsWithoutStreaming"/>.</summary>
    public virtio_media_config Config => Rule == BrokenRule.DeviceCapsWithoutStreaming
        ? ConfigSpace.Create(Camera.DeviceCaps & ~(uint)Constants.V4L2_CAP_STREAMING, 0, Camera.Options.Card)
        : Camera.Config;

    /// <summary>Creates the endpoint that serves this device over <paramref name="transport"/>.</summary>
    public DeviceEndpoint CreateEndpoint(IDeviceTransport transport, VirtioObjectRegistry? objects = null) =>
        new(transport, Config, CreateHandler, objects);

    /// <summary>The handler factory: the camera's session handler, wrapped for the broken rule.</summary>
    public V4l2DeviceHandler<DeviceIoctlContext> CreateHandler(DeviceSession session)
    {
        var inner = Camera.CreateHandler(session);
        return Rule switch
        {
            BrokenRule.None or BrokenRule.DeviceCapsWithoutStreaming => inner,
            BrokenRule.EnumFmtRepeatsFirstFormat => new EnumFmtRepeatsFirstFormat(inner, Camera),
            BrokenRule.BytesPerLineBelowWidth => new BytesPerLineBelowWidth(inner),
            BrokenRule.FieldAny => new FieldAny(inner),
            BrokenRule.ParmWithoutTimePerFrame => new ParmWithoutTimePerFrame(inner),
            BrokenRule.FrameSizeZero => new FrameSizeZero(inner),
            BrokenRule.QueryCtrlStepZero => new QueryCtrlStepZero(inner),
            BrokenRule.SetCtrlOutOfRangeAccepted => new SetCtrlOutOfRangeAccepted(inner),
            BrokenRule.TryExtCtrlsErrorIndex => new TryExtCtrlsErrorIndex(inner),
            BrokenRule.ControlEventWithoutInitial => new ControlEventWithoutInitial(inner),
            BrokenRule.BufferCapsWithoutMmap => new BufferCapsWithoutMmap(inner),
            BrokenRule.QueryBufWithoutTimestampType => new QueryBufWithoutTimestampType(inner),
            _ => throw new InvalidOperationException($"no decorator for {Rule}"),
        };
    }

    /// <summary>Stops every stream (before the transport's memory goes away), as <see cref="VirtualCamera.StopStreams"/>.</summary>
    public void StopStreams() => Camera.StopStreams();

    /// <summary>Every rule, <see cref="BrokenRule.None"/> first.</summary>
    public static IReadOnlyList<BrokenRule> Rules { get; } = Enum.GetValues<BrokenRule>();

    /// <summary>The rule's command-line name: its enum name in kebab case ("field-any"); "none" for the good camera.</summary>
    public static string NameOf(BrokenRule rule)
    {
        var name = rule.ToString();
        var text = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                text.Append('-');
            }
            text.Append(char.ToLowerInvariant(name[i]));
        }
        return text.ToString();
    }

    /// <summary>The rule named <paramref name="name"/> (<see cref="NameOf"/>), or false.</summary>
    public static bool TryParse(string name, out BrokenRule rule)
    {
        foreach (var candidate in Rules)
        {
            if (string.Equals(NameOf(candidate), name, StringComparison.OrdinalIgnoreCase))
            {
                rule = candidate;
                return true;
            }
        }
        rule = BrokenRule.None;
        return false;
    }
}
