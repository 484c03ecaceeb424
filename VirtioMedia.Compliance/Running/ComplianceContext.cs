using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Runtime.Driver;
using VirtioMedia.Runtime.Transport;

namespace VirtioMedia.Compliance.Running;

/// <summary>
/// What a test works with: the node (from the configuration space), a driver endpoint on a connection of its own
/// (or the raw transport for the hostile-driver probes), and the check vocabulary. A check that fails ends the test
/// with its rule and source, as v4l2-compliance's <c>fail_on_test</c> does.
/// </summary>
internal sealed class ComplianceContext
{
    private readonly DriverEndpoint? _driver;
    private readonly List<DriverSession> _sessions = new();
    private RawCommandChannel? _raw;

    public ComplianceContext(ComplianceNode node, IDriverTransport transport, DriverEndpoint? driver, ComplianceOptions options, CancellationToken cancellationToken)
    {
        Node = node;
        Transport = transport;
        _driver = driver;
        Options = options;
        Token = cancellationToken;
    }

    public ComplianceNode Node { get; }

    /// <summary>The connection's driver transport (the raw probes drive its queues themselves).</summary>
    public IDriverTransport Transport { get; }

    public DriverEndpoint Driver => _driver ?? throw new InvalidOperationException("a raw test has no driver endpoint");

    public ComplianceOptions Options { get; }

    /// <summary>The command queue by hand (raw tests only: the queue is not shared with a driver endpoint).</summary>
    public RawCommandChannel Raw => _driver is null
        ? _raw ??= new RawCommandChannel(Transport, Options.CommandTimeout)
        : throw new InvalidOperationException("a test with a driver endpoint cannot drive the queue by hand");

    /// <summary>Cancelled when the test's bounded wait is over.</summary>
    public CancellationToken Token { get; }

    public List<string> Warnings { get; } = new();

    public List<string> Notes { get; } = new();

    /// <summary>Opens a session (closed when the test ends).</summary>
    public async Task<DriverSession> OpenAsync()
    {
        var session = await Driver.OpenSessionAsync(Token).ConfigureAwait(false);
        _sessions.Add(session);
        return session;
    }

    /// <summary>Fails the test unless <paramref name="condition"/> holds: <paramref name="rule"/> says what must hold,
    /// <paramref name="source"/> where the rule comes from (v4l2-compliance's file and function, or the spec's statement).</summary>
    public void Check(bool condition, string rule, string source)
    {
        if (!condition)
        {
            throw new ComplianceFailure($"{rule} [{source}]");
        }
    }

    /// <summary>Fails the test unless the device answered <paramref name="expected"/>.</summary>
    public void Expect(int status, int expected, string call, string source) =>
        Check(status == expected, $"{call} answered {ErrnoNames.Of(status)}, expected {ErrnoNames.Of(expected)}", source);

    /// <summary>Ends the test as "OK (Not Supported)".</summary>
    public static NotSupportedByDevice NotSupported(string reason) => new(reason);

    public void Warn(string message) => Warnings.Add(message);

    public void Note(string message) => Notes.Add(message);

    /// <summary>Closes the test's sessions (best effort: the device may be the reason the test ended).</summary>
    public async Task CloseSessionsAsync()
    {
        foreach (var session in _sessions)
        {
            try
            {
                await session.CloseAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The result is decided already; a device that cannot close a session was reported by the test.
            }
        }
    }
}
