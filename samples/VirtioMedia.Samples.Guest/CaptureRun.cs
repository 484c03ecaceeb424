using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using VirtioMedia.Abi;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.VhostUser;
using VirtioMedia.Samples.Camera;

namespace VirtioMedia.Samples.Guest;

/// <summary>
/// One capture run, as a V4L2 application in a guest would do it: connect, survey the device, negotiate a format,
/// stream, change controls mid-stream and wait for their events, check and save frames, and report the figures.
/// Every wait is bounded: a command by the endpoint's timeout, a frame by <see cref="CaptureSettings.DeviceTimeout"/>,
/// and everything by the vhost-user connection, whose loss ends the run at once.
/// </summary>
internal sealed class CaptureRun
{
    private readonly CaptureSettings _settings;
    private readonly TextWriter _output;
    private readonly ILogger _log;

    public CaptureRun(CaptureSettings settings, TextWriter output, ILoggerFactory loggers)
    {
        _settings = settings;
        _output = output;
        _log = loggers.CreateLogger("guest");
    }

    /// <summary>Runs the capture; returns the exit code. Failures are reported on the log and as the exit code.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        VhostUserFrontend? frontend = null;
        DriverEndpoint? endpoint = null;
        try
        {
            CreateOutputDirectory();
            frontend = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            endpoint = DriverEndpoint.Start(frontend, new DriverEndpointOptions { CommandTimeout = _settings.DeviceTimeout });
            using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, frontend.ConnectionLost);
            try
            {
                return await CaptureAsync(endpoint, lifetime.Token).ConfigureAwait(false);
            }
            catch (Exception error) when (frontend.ConnectionLost.IsCancellationRequested && error is not GuestException { ExitCode: ExitCodes.VerificationFailed })
            {
                throw new GuestException(ExitCodes.DeviceError, "the host closed the vhost-user connection (it exited or was killed) while the guest was using the device", error);
            }
        }
        catch (GuestException error)
        {
            _log.LogError("{Message}", error.Message);
            return error.ExitCode;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _log.LogError("interrupted");
            return ExitCodes.DeviceError;
        }
        catch (Exception error) when (error is TimeoutException or DeviceErrorException or DeviceProtocolException or VhostUserProtocolException or IOException or SocketException or ChannelClosedException)
        {
            _log.LogError("device error: {Message}", error.Message);
            return ExitCodes.DeviceError;
        }
        finally
        {
            if (endpoint is not null)
            {
                await endpoint.DisposeAsync().ConfigureAwait(false);
            }
            frontend?.Dispose();
        }
    }

    private void CreateOutputDirectory()
    {
        if (_settings.PngEvery == 0)
        {
            return;
        }
        try
        {
            Directory.CreateDirectory(_settings.OutputDirectory);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new GuestException(ExitCodes.Usage, $"cannot create {_settings.OutputDirectory}: {error.Message}", error);
        }
    }

    private async Task<VhostUserFrontend> ConnectAsync(CancellationToken cancellationToken)
    {
        // Room for the rings, the command buffers and, for USERPTR, every buffer's pages (3 bytes per pixel at most).
        var frameBytes = (ulong)_settings.Width * (ulong)_settings.Height * 3 + 2 * (ulong)Environment.SystemPageSize;
        var memory = (16UL << 20) + (ulong)_settings.Buffers * 2 * frameBytes;
        memory = (memory + (1UL << 20) - 1) & ~((1UL << 20) - 1);
        _log.LogInformation("connecting to {Socket} with {Memory} MiB of guest memory", _settings.Socket, memory >> 20);
        try
        {
            return await VhostUserFrontend.ConnectAsync(_settings.Socket, new VhostUserFrontendOptions { MemorySize = memory, Timeout = TimeSpan.FromSeconds(5) }, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (Exception error) when (error is IOException or SocketException or VhostUserProtocolException or TimeoutException)
        {
            throw new GuestException(ExitCodes.DeviceError, $"cannot set up the device at {_settings.Socket}: {error.Message}", error);
        }
    }

    private async Task<int> CaptureAsync(DriverEndpoint endpoint, CancellationToken cancellationToken)
    {
        var session = await endpoint.OpenSessionAsync(cancellationToken).ConfigureAwait(false);
        var survey = await DeviceSurvey.TakeAsync(session, _settings.PixelFormat, _settings.Width, _settings.Height, cancellationToken).ConfigureAwait(false);
        survey.Print(_output, _settings.PixelFormat, _settings.Width, _settings.Height);

        var layout = await NegotiateAsync(session, survey, cancellationToken).ConfigureAwait(false);
        var changes = PlanControlChanges(survey);
        foreach (var id in new HashSet<uint>(changes.ConvertAll(c => c.Control.Id)))
        {
            // ALLOW_FEEDBACK: V4L2 tells a file handle of its own changes only when asked to.
            var subscribed = await session.VIDIOC_SUBSCRIBE_EVENT(new v4l2_event_subscription { type = Constants.V4L2_EVENT_CTRL, id = id, flags = Constants.V4L2_EVENT_SUB_FL_ALLOW_FEEDBACK }, null, cancellationToken).ConfigureAwait(false);
            Ioctl.Check(subscribed.Status, $"VIDIOC_SUBSCRIBE_EVENT(V4L2_EVENT_CTRL, 0x{id:X})");
        }

        var buffers = await CaptureBuffers.CreateAsync(_settings.Memory, session, layout, _settings.Buffers, cancellationToken).ConfigureAwait(false);
        _output.WriteLine($"buffers: {buffers.Count} x {MemoryName(_settings.Memory)}, {layout.FrameBytes} bytes a frame");

        var watcher = new ControlEventWatcher();
        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watching = watcher.RunAsync(session.Events, stopWatching.Token);

        var stream = new StreamState(layout, InitialControls(survey), buffers.Count);
        var interactive = _settings.ShowProgress && !Console.IsOutputRedirected && _settings.Frames >= 100;
        if (interactive)
        {
            await AnsiConsole.Progress().AutoClear(true).Columns(new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask("capturing", maxValue: _settings.Frames);
                    await StreamAsync(session, buffers, stream, changes, watcher, () => task.Increment(1), cancellationToken).ConfigureAwait(false);
                }).ConfigureAwait(false);
        }
        else
        {
            await StreamAsync(session, buffers, stream, changes, watcher, () => { }, cancellationToken).ConfigureAwait(false);
        }

        // Teardown as an application would: the stream is off; buffers go back, the session closes.
        await buffers.ReleaseAsync(cancellationToken).ConfigureAwait(false);
        await session.CloseAsync(cancellationToken).ConfigureAwait(false);
        await stopWatching.CancelAsync().ConfigureAwait(false);
        await watching.ConfigureAwait(false);
        return Report(stream, changes);
    }

    private async Task<FrameLayout> NegotiateAsync(DriverSession session, DeviceSurvey survey, CancellationToken cancellationToken)
    {
        var pixelFormat = _settings.PixelFormat;
        var type = CameraFormats.BufferType(pixelFormat);
        if (!survey.Formats.Any(f => f.PixelFormat == pixelFormat && f.BufferType == type))
        {
            throw new GuestException(ExitCodes.DeviceError, $"the device does not offer {PixelFormatNames.Name(pixelFormat)} for {(type == Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE ? "capture" : "multi-planar capture")}");
        }
        var format = new v4l2_format { type = type };
        if (type == Constants.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE)
        {
            format.fmt.pix_mp.width = (uint)_settings.Width;
            format.fmt.pix_mp.height = (uint)_settings.Height;
            format.fmt.pix_mp.pixelformat = pixelFormat;
            format.fmt.pix_mp.field = Constants.V4L2_FIELD_NONE;
            format.fmt.pix_mp.num_planes = (byte)CameraFormats.PlaneCount(pixelFormat);
        }
        else
        {
            format.fmt.pix.width = (uint)_settings.Width;
            format.fmt.pix.height = (uint)_settings.Height;
            format.fmt.pix.pixelformat = pixelFormat;
            format.fmt.pix.field = Constants.V4L2_FIELD_NONE;
        }
        var set = await session.VIDIOC_S_FMT(format, null, cancellationToken).ConfigureAwait(false);
        Ioctl.Check(set.Status, "VIDIOC_S_FMT");
        var layout = FrameLayout.FromFormat(set.Payload);
        if (layout.PixelFormat != pixelFormat)
        {
            throw new GuestException(ExitCodes.DeviceError, $"asked for {PixelFormatNames.Name(pixelFormat)}, the device chose {PixelFormatNames.Name(layout.PixelFormat)}");
        }
        if (layout.Width != _settings.Width || layout.Height != _settings.Height)
        {
            _log.LogWarning("asked for {Width}x{Height}, the device chose {ActualWidth}x{ActualHeight}", _settings.Width, _settings.Height, layout.Width, layout.Height);
        }
        _output.WriteLine($"format: {PixelFormatNames.Name(layout.PixelFormat)} {layout.Width}x{layout.Height}, bytesperline {string.Join('/', layout.BytesPerLine)}, sizeimage {string.Join('/', layout.PlaneSizes)}");
        return layout;
    }

    private List<PlannedChange> PlanControlChanges(DeviceSurvey survey)
    {
        var requested = _settings.ControlChanges;
        if (requested.Count == 0)
        {
            // The default change: brightness, a quarter of its range up (or down when that would overflow), at half the run.
            var brightness = survey.Controls.FirstOrDefault(c => c.Id == Constants.V4L2_CID_BRIGHTNESS);
            if (brightness is null || _settings.Frames < 2)
            {
                return [];
            }
            var delta = Math.Max(brightness.Step, (brightness.Maximum - brightness.Minimum) / 4);
            var value = brightness.Value + delta <= brightness.Maximum ? brightness.Value + delta : brightness.Value - delta;
            requested = [new ControlChange("brightness", value, _settings.Frames / 2)];
        }
        var planned = new List<PlannedChange>();
        foreach (var change in requested)
        {
            var control = survey.FindControl(change.Name)
                ?? throw new GuestException(ExitCodes.Usage, $"the device has no control '{change.Name}' (it has: {string.Join(", ", survey.Controls.Select(c => c.Name))})");
            if (change.Value < control.Minimum || change.Value > control.Maximum)
            {
                throw new GuestException(ExitCodes.Usage, $"{control.Name} takes {control.Minimum}..{control.Maximum}, not {change.Value}");
            }
            if (change.AtFrame >= _settings.Frames)
            {
                throw new GuestException(ExitCodes.Usage, $"{change.Name} is to change at frame {change.AtFrame}, but only {_settings.Frames} frames are captured");
            }
            planned.Add(new PlannedChange(change, control));
        }
        return planned;
    }

    private async Task StreamAsync(DriverSession session, CaptureBuffers buffers, StreamState stream, List<PlannedChange> changes, ControlEventWatcher watcher,
        Action advance, CancellationToken cancellationToken)
    {
        var layout = stream.Layout;
        var frames = _settings.Frames;
        var scratch = new byte[layout.PlaneSizes.Length == 0 ? 0 : (int)Math.Max(layout.PlaneSizes[0], layout.PlaneSizes[^1])];
        var image = _settings.PngEvery > 0 ? new FrameImage(layout) : null;

        var queued = 0;
        for (uint i = 0; i < buffers.Count && queued < frames; i++, queued++)
        {
            await QueueAsync(buffers, stream, i, cancellationToken).ConfigureAwait(false);
        }
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var started = Stopwatch.GetTimestamp();
        Ioctl.Check((await session.VIDIOC_STREAMON((int)layout.BufferType, null, cancellationToken).ConfigureAwait(false)).Status, "VIDIOC_STREAMON");

        // Buffers are stamped as they arrive, not when the loop gets to them, so the latency is the device's and
        // the transport's, not the time this loop spent checking or saving earlier frames.
        using var stopPump = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var arrivals = Channel.CreateUnbounded<(DequeuedBuffer Buffer, long At)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var pump = PumpAsync(session.DequeuedBuffers, arrivals.Writer, stopPump.Token);
        using var frameTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        long lastSequence = -1;
        for (var received = 0; received < frames; received++)
        {
            frameTimeout.CancelAfter(_settings.DeviceTimeout);
            DequeuedBuffer done;
            long arrived;
            try
            {
                (done, arrived) = await arrivals.Reader.ReadAsync(frameTimeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new GuestException(ExitCodes.DeviceError, $"no frame within {_settings.DeviceTimeout.TotalSeconds:0.#} s after frame {received} (the device stopped streaming)");
            }
            catch (ChannelClosedException error)
            {
                throw new GuestException(ExitCodes.DeviceError, $"the session ended while streaming: {error.InnerException?.Message ?? "closed"}", error);
            }
            if (!frameTimeout.TryReset())
            {
                throw new OperationCanceledException(cancellationToken);
            }

            var buffer = done.Buffer;
            if (buffer.index >= buffers.Count || !stream.InFlight[buffer.index])
            {
                throw new GuestException(ExitCodes.DeviceError, $"the device returned buffer {buffer.index}, which is not queued");
            }
            stream.InFlight[buffer.index] = false;
            if (buffer.sequence <= lastSequence)
            {
                throw new GuestException(ExitCodes.DeviceError, $"frame sequence went from {lastSequence} to {buffer.sequence}");
            }
            stream.Dropped += lastSequence < 0 ? buffer.sequence : buffer.sequence - lastSequence - 1;
            lastSequence = buffer.sequence;
            stream.Latency.Add(Stopwatch.GetElapsedTime(stream.QueuedAt[buffer.index], arrived));
            if ((buffer.flags & Constants.V4L2_BUF_FLAG_ERROR) != 0)
            {
                stream.ErrorFrames++;
            }

            ReadOnlySpan<byte> Plane(int plane) => buffers.Read(buffer.index, plane, scratch);
            if (_settings.Verify && !stream.Verifier.Check(buffer.sequence, stream.QueuedEpoch[buffer.index], Plane) && stream.Verifier.Mismatched == 1)
            {
                _log.LogError("{Mismatch}", stream.Verifier.FirstMismatch);
            }
            if (image is not null && received % _settings.PngEvery == 0)
            {
                var path = Path.Combine(_settings.OutputDirectory, string.Create(CultureInfo.InvariantCulture, $"frame-{buffer.sequence:D6}.png"));
                stream.Saving.Add(image.SavePngAsync(path, Plane));
                stream.Saved.Add(path);
            }

            foreach (var change in changes)
            {
                if (change.Request.AtFrame == received)
                {
                    await ChangeControlAsync(session, stream, change, watcher, cancellationToken).ConfigureAwait(false);
                }
            }
            if (queued < frames)
            {
                await QueueAsync(buffers, stream, buffer.index, cancellationToken).ConfigureAwait(false);
                queued++;
            }
            advance();
        }
        stream.Elapsed = Stopwatch.GetElapsedTime(started);
        stream.Cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        await stopPump.CancelAsync().ConfigureAwait(false);
        await pump.ConfigureAwait(false);
        await Task.WhenAll(stream.Saving).ConfigureAwait(false);
        Ioctl.Check((await session.VIDIOC_STREAMOFF((int)layout.BufferType, null, cancellationToken).ConfigureAwait(false)).Status, "VIDIOC_STREAMOFF");
        foreach (var change in changes)
        {
            change.EventAt = await change.Confirmation!.ConfigureAwait(false);
        }
    }

    private static async Task PumpAsync(ChannelReader<DequeuedBuffer> from, ChannelWriter<(DequeuedBuffer, long)> to, CancellationToken cancellationToken)
    {
        try
        {
            while (await from.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (from.TryRead(out var buffer))
                {
                    to.TryWrite((buffer, Stopwatch.GetTimestamp()));
                }
            }
            to.TryComplete();
        }
        catch (OperationCanceledException)
        {
            to.TryComplete();
        }
        catch (Exception error)
        {
            // The session failed (an ERROR event): the capture loop sees it as the reason its channel closed.
            to.TryComplete(error);
        }
    }

    private static async ValueTask QueueAsync(CaptureBuffers buffers, StreamState stream, uint index, CancellationToken cancellationToken)
    {
        stream.QueuedEpoch[index] = stream.Verifier.CurrentEpoch;
        stream.InFlight[index] = true;
        stream.QueuedAt[index] = Stopwatch.GetTimestamp();
        await buffers.QueueAsync(index, cancellationToken).ConfigureAwait(false);
    }

    private async Task ChangeControlAsync(DriverSession session, StreamState stream, PlannedChange change, ControlEventWatcher watcher, CancellationToken cancellationToken)
    {
        var id = change.Control.Id;
        change.IssuedAt = Stopwatch.GetTimestamp();
        var set = await session.VIDIOC_S_CTRL(new v4l2_control { id = id, value = change.Request.Value }, null, cancellationToken).ConfigureAwait(false);
        Ioctl.Check(set.Status, $"VIDIOC_S_CTRL({change.Control.Name} = {change.Request.Value})");
        stream.Verifier.Change(WithControl(stream.Verifier.Current, id, change.Request.Value));
        _log.LogInformation("{Control} set to {Value} after frame {Frame}", change.Control.Name, change.Request.Value, change.Request.AtFrame);
        change.Confirmation = watcher.WaitAsync(id, change.Request.Value, _settings.DeviceTimeout, cancellationToken);
    }

    private int Report(StreamState stream, List<PlannedChange> changes)
    {
        var exit = ExitCodes.Success;
        foreach (var change in changes)
        {
            if (change.EventAt is { } at)
            {
                _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"control: {change.Control.Name} = {change.Request.Value} after frame {change.Request.AtFrame}, V4L2_EVENT_CTRL after {Stopwatch.GetElapsedTime(change.IssuedAt, at).TotalMilliseconds:F2} ms"));
            }
            else
            {
                _log.LogError("no V4L2_EVENT_CTRL for {Control} = {Value} within {Timeout} s", change.Control.Name, change.Request.Value, _settings.DeviceTimeout.TotalSeconds);
                exit = ExitCodes.VerificationFailed;
            }
        }
        if (_settings.Verify)
        {
            var verifier = stream.Verifier;
            _output.WriteLine(verifier.Mismatched == 0
                ? $"verified: {verifier.Matched} of {_settings.Frames} frames match the test pattern byte for byte"
                : $"verification FAILED: {verifier.Mismatched} of {_settings.Frames} frames differ from the test pattern; first: {verifier.FirstMismatch}");
            if (verifier.Mismatched != 0)
            {
                exit = ExitCodes.VerificationFailed;
            }
        }
        if (stream.ErrorFrames > 0)
        {
            _log.LogError("{Count} frames came back with V4L2_BUF_FLAG_ERROR", stream.ErrorFrames);
            exit = ExitCodes.VerificationFailed;
        }
        if (stream.Saved.Count > 0)
        {
            _output.WriteLine($"png: {stream.Saved.Count} files in {_settings.OutputDirectory} ({Path.GetFileName(stream.Saved[0])} .. {Path.GetFileName(stream.Saved[^1])})");
        }
        var seconds = stream.Elapsed.TotalSeconds;
        _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"summary: {_settings.Frames} frames in {seconds:F2} s, {_settings.Frames / seconds:F1} frames/s, latency median {stream.Latency.Median:F2} ms p99 {stream.Latency.P99:F2} ms, guest CPU {stream.Cpu.TotalSeconds:F2} s ({stream.Cpu.TotalSeconds / seconds * 100:F0}% of one core), {stream.Dropped} dropped"));
        return exit;
    }

    private static PatternControls InitialControls(DeviceSurvey survey)
    {
        var controls = PatternControls.Default;
        foreach (var control in survey.Controls)
        {
            controls = WithControl(controls, control.Id, control.Value);
        }
        return controls;
    }

    /// <summary>The pattern's controls after control <paramref name="id"/> took <paramref name="value"/> (others leave it as is).</summary>
    private static PatternControls WithControl(PatternControls controls, uint id, int value) => id switch
    {
        Constants.V4L2_CID_BRIGHTNESS => controls with { Brightness = value },
        Constants.V4L2_CID_CONTRAST => controls with { Contrast = value },
        Constants.V4L2_CID_SATURATION => controls with { Saturation = value },
        Constants.V4L2_CID_HUE => controls with { Hue = value },
        Constants.V4L2_CID_HFLIP => controls with { HorizontalFlip = value != 0 },
        Constants.V4L2_CID_VFLIP => controls with { VerticalFlip = value != 0 },
        _ => controls,
    };

    private static string MemoryName(CaptureMemory memory) => memory switch
    {
        CaptureMemory.Mmap => "MMAP",
        CaptureMemory.UserPtr => "USERPTR (SHARED_PAGES)",
        _ => "DMABUF (VIRTIO_OBJECT)",
    };

    /// <summary>A control change the run makes, and what came of it.</summary>
    private sealed class PlannedChange(ControlChange request, ControlInfo control)
    {
        public ControlChange Request { get; } = request;

        public ControlInfo Control { get; } = control;

        public long IssuedAt { get; set; }

        public Task<long?>? Confirmation { get; set; }

        public long? EventAt { get; set; }
    }

    /// <summary>What the capture loop tracks per buffer and over the run.</summary>
    private sealed class StreamState(FrameLayout layout, PatternControls initial, int buffers)
    {
        public FrameLayout Layout { get; } = layout;

        public FrameVerifier Verifier { get; } = new(layout, initial);

        public long[] QueuedAt { get; } = new long[buffers];

        public int[] QueuedEpoch { get; } = new int[buffers];

        public bool[] InFlight { get; } = new bool[buffers];

        public LatencyStatistics Latency { get; } = new();

        public List<string> Saved { get; } = new();

        public List<Task> Saving { get; } = new();

        public long Dropped { get; set; }

        public int ErrorFrames { get; set; }

        public TimeSpan Elapsed { get; set; }

        public TimeSpan Cpu { get; set; }
    }
}
