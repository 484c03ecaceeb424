using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Compliance.Groups;
using VirtioMedia.Compliance.Reporting;
using VirtioMedia.Compliance.Running;
using VirtioMedia.Compliance.Targets;
using VirtioMedia.Runtime.Driver;

namespace VirtioMedia.Compliance;

/// <summary>
/// Runs the compliance tests against a device: v4l2-compliance 1.22.1's tests for video capture and output nodes,
/// under its names, then the virtio-media device statements and the hostile-driver probes. Each test connects anew
/// and runs within <see cref="ComplianceOptions.TestTimeout"/>; a device that hangs or goes away under one test is
/// reported as failing it, and the suite carries on with the next.
/// </summary>
public static class ComplianceSuite
{
    /// <summary>The names of every test, in the order they run.</summary>
    public static IReadOnlyList<string> TestNames => AllTests.Select(test => test.Name).ToArray();

    internal static IReadOnlyList<ComplianceTest> AllTests { get; } =
    [
        .. RequiredTests.All, .. MultipleOpenTests.All, .. InputOutputTests.All, .. ControlTests.All, .. FormatTests.All,
        .. CodecTests.All, .. BufferTests.All, .. StreamingTests.All, .. VirtioMediaTests.All, .. HostileDriverTests.All,
    ];

    /// <summary>Runs the suite against <paramref name="target"/> and returns the report.</summary>
    public static async Task<ComplianceReport> RunAsync(
        ComplianceTarget target,
        ComplianceOptions? options = null,
        IProgress<ComplianceProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        options ??= new ComplianceOptions();
        var tests = AllTests
            .Where(test => options.Streaming || !test.Streaming)
            .Where(test => options.HostileDriver || test.Group != HostileDriverTests.Group)
            .Where(test => options.Only is null || options.Only.Any(part => test.Name.Contains(part, StringComparison.OrdinalIgnoreCase)))
            .ToArray();
        var results = new List<ComplianceTestResult>(tests.Length);
        string card = "";
        uint caps = 0;
        for (var i = 0; i < tests.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            progress?.Report(new ComplianceProgress(i, tests.Length, tests[i].Name, null));
            var (result, node) = await RunOneAsync(target, tests[i], options, cancellationToken).ConfigureAwait(false);
            if (node is not null && card.Length == 0)
            {
                card = node.Card;
                caps = node.DeviceCaps;
            }
            results.Add(result);
            progress?.Report(new ComplianceProgress(i, tests.Length, tests[i].Name, result));
        }
        return new ComplianceReport(target.Description, card, caps, results);
    }

    private static async Task<(ComplianceTestResult Result, ComplianceNode? Node)> RunOneAsync(
        ComplianceTarget target, ComplianceTest test, ComplianceOptions options, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(options.TestTimeout);
        ComplianceContext? context = null;
        ComplianceNode? node = null;
        TargetConnection? connection = null;
        DriverEndpoint? driver = null;
        ComplianceStatus status;
        string? failure = null;
        var notes = new List<string>();
        try
        {
            connection = await target.ConnectAsync(bounded.Token).WaitAsync(options.ConnectTimeout, bounded.Token).ConfigureAwait(false);
            var config = connection.Transport.ReadConfig();
            node = new ComplianceNode(config);
            if (!test.Raw)
            {
                driver = DriverEndpoint.Start(connection.Transport, new DriverEndpointOptions { CommandTimeout = options.CommandTimeout });
            }
            context = new ComplianceContext(node, connection.Transport, driver, options, bounded.Token);
            var run = test.RunAsync(context);
            await run.WaitAsync(options.TestTimeout, cancellationToken).ConfigureAwait(false);
            status = ComplianceStatus.Ok;
        }
        catch (NotSupportedByDevice reason)
        {
            status = ComplianceStatus.NotSupported;
            notes.Add(reason.Message);
        }
        catch (ComplianceFailure check)
        {
            status = ComplianceStatus.Fail;
            failure = check.Message;
        }
        catch (Exception error) when (!cancellationToken.IsCancellationRequested)
        {
            status = ComplianceStatus.Fail;
            failure = Describe(error, options, connection is null);
        }
        if (context is not null)
        {
            await context.CloseSessionsAsync().ConfigureAwait(false);
            notes.AddRange(context.Notes);
        }
        if (driver is not null)
        {
            await Bounded(driver.DisposeAsync().AsTask()).ConfigureAwait(false);
        }
        if (connection is not null && !await Bounded(connection.DisposeAsync().AsTask()).ConfigureAwait(false))
        {
            notes.Add("the device did not stop within 10 s after the test; its connection was abandoned");
        }
        var result = new ComplianceTestResult(test.Group, test.Name, status, failure,
            context?.Warnings.ToArray() ?? [], notes.ToArray(), clock.Elapsed);
        return (result, node);
    }

    private static string Describe(Exception error, ComplianceOptions options, bool connecting) => error switch
    {
        _ when connecting => $"cannot reach the device: {error.Message} [the device must accept a driver]",
        TimeoutException or OperationCanceledException => $"the device did not answer within the bounded wait ({options.CommandTimeout.TotalSeconds:0.#} s a command, {options.TestTimeout.TotalSeconds:0.#} s a test): it hangs [spec: every command is answered]",
        DeviceProtocolException protocol => $"the device broke the virtio-media protocol: {protocol.Message} [spec: Device Operation]",
        DeviceErrorException device => $"the device failed the session with an ERROR event ({ErrnoNames.Of(device.Errno)}) during the test [spec: Device-side error]",
        ObjectDisposedException disposed => $"the device went away during the test: {disposed.Message}",
        _ => $"unexpected {error.GetType().Name}: {error.Message}",
    };

    private static async Task<bool> Bounded(Task task)
    {
        try
        {
            await task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (Exception)
        {
            return true;
        }
    }
}
