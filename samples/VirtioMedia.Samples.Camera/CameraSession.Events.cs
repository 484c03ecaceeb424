using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Device;

namespace VirtioMedia.Samples.Camera;

/// <summary>Events: this session's subscriptions to control changes and to end of stream.</summary>
public sealed partial class CameraSession
{
    private readonly object _subscriptionGate = new();
    private readonly Dictionary<uint, uint> _controlSubscriptions = new();
    private bool _eosSubscribed;
    private int _eventSequence;

    /// <inheritdoc/>
    public override int VIDIOC_SUBSCRIBE_EVENT(DeviceIoctlContext context, ref v4l2_event_subscription payload)
    {
        switch (payload.type)
        {
            case Constants.V4L2_EVENT_CTRL:
                if (!_camera.ControlSet.TryFind(payload.id, out var control))
                {
                    return Constants.EINVAL;
                }
                lock (_subscriptionGate)
                {
                    _controlSubscriptions[control.Id] = payload.flags;
                }
                // A class control has no value, so no initial event (v4l2-test-controls.cpp, testEvents).
                if ((payload.flags & Constants.V4L2_EVENT_SUB_FL_SEND_INITIAL) != 0 && !control.IsClassControl)
                {
                    // Emitted before the answer, so the driver finds it when it processes events after subscribing.
                    EmitControlEvent(control, _camera.ControlSet.GetValue(control.Id));
                }
                return 0;
            case Constants.V4L2_EVENT_EOS:
                lock (_subscriptionGate)
                {
                    _eosSubscribed = true;
                }
                return 0;
            default:
                return Constants.EINVAL;
        }
    }

    /// <inheritdoc/>
    public override int VIDIOC_UNSUBSCRIBE_EVENT(DeviceIoctlContext context, ref v4l2_event_subscription payload)
    {
        lock (_subscriptionGate)
        {
            switch (payload.type)
            {
                case Constants.V4L2_EVENT_ALL:
                    _controlSubscriptions.Clear();
                    _eosSubscribed = false;
                    return 0;
                case Constants.V4L2_EVENT_CTRL:
                    _controlSubscriptions.Remove(payload.id);
                    return 0;
                case Constants.V4L2_EVENT_EOS:
                    _eosSubscribed = false;
                    return 0;
                default:
                    return Constants.EINVAL;
            }
        }
    }

    /// <summary>A control changed (through any session): tell this one if it subscribed.</summary>
    internal void AnnounceControl(ControlDefinition control, int value, CameraSession? origin)
    {
        lock (_subscriptionGate)
        {
            if (!_controlSubscriptions.TryGetValue(control.Id, out var flags)
                || (origin == this && (flags & Constants.V4L2_EVENT_SUB_FL_ALLOW_FEEDBACK) == 0))
            {
                return;
            }
        }
        EmitControlEvent(control, value);
    }

    /// <summary>The stream ended (STREAMOFF or the frame limit): tell this session if it subscribed.</summary>
    internal void EmitEndOfStream()
    {
        bool subscribed;
        lock (_subscriptionGate)
        {
            subscribed = _eosSubscribed;
        }
        if (subscribed)
        {
            Session.EmitEvent(NewEvent(Constants.V4L2_EVENT_EOS));
        }
    }

    private void EmitControlEvent(ControlDefinition control, int value)
    {
        var ev = NewEvent(Constants.V4L2_EVENT_CTRL);
        ev.id = control.Id;
        ref var ctrl = ref ev.u.ctrl;
        ctrl.changes = Constants.V4L2_EVENT_CTRL_CH_VALUE;
        ctrl.type = (uint)control.Type;
        ctrl.value = value;
        ctrl.flags = control.Flags;
        ctrl.minimum = control.Minimum;
        ctrl.maximum = control.Maximum;
        ctrl.step = control.Step;
        ctrl.default_value = control.Default;
        Session.EmitEvent(ev);
    }

    private v4l2_event NewEvent(uint type)
    {
        var ev = new v4l2_event { type = type, sequence = (uint)(Interlocked.Increment(ref _eventSequence) - 1) };
        var nanoseconds = (long)(Stopwatch.GetTimestamp() * (1_000_000_000.0 / Stopwatch.Frequency));
        ev.timestamp.tv_sec = nanoseconds / 1_000_000_000;
        ev.timestamp.tv_nsec = nanoseconds % 1_000_000_000;
        return ev;
    }
}
