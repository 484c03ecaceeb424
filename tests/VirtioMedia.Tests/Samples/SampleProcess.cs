using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Samples.Guest;

namespace VirtioMedia.Tests.Samples;

/// <summary>
/// A sample executable run as a child process (<c>dotnet Sample.dll ...</c>) from the test's output folder, where the
/// project references put the samples with their runtimeconfig and deps files. Output is collected; a line can be
/// awaited; the process is killed if it is still running when disposed, so no test leaves one behind.
/// </summary>
internal sealed class SampleProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _error = new();
    private readonly object _gate = new();
    private TaskCompletionSource _lineArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SampleProcess(Process process)
    {
        _process = process;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    public string Error
    {
        get
        {
            lock (_gate)
            {
                return _error.ToString();
            }
        }
    }

    public static SampleProcess Start(string assembly, params string[] arguments)
    {
        var path = Path.Combine(AppContext.BaseDirectory, assembly);
        Assert.IsTrue(File.Exists(path), $"{path} is missing: the test project references the samples so that they are built next to it");
        var start = new ProcessStartInfo(HostProcess.DotnetPath())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(path);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        // Plain output: no progress bar, no colours.
        start.Environment["NO_COLOR"] = "1";
        var sample = new SampleProcess(new Process { StartInfo = start });
        sample._process.OutputDataReceived += (_, line) => sample.Append(sample._output, line.Data);
        sample._process.ErrorDataReceived += (_, line) => sample.Append(sample._error, line.Data);
        sample._process.Start();
        sample._process.BeginOutputReadLine();
        sample._process.BeginErrorReadLine();
        return sample;
    }

    /// <summary>Waits until standard output holds <paramref name="text"/>; fails the test after <paramref name="timeout"/>.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            Task arrived;
            lock (_gate)
            {
                if (_output.ToString().Contains(text, StringComparison.Ordinal))
                {
                    return;
                }
                arrived = _lineArrived.Task;
            }
            if (_process.HasExited && !Output.Contains(text, StringComparison.Ordinal))
            {
                // Output may still be draining; one more short wait settles it.
                await Task.Delay(100);
                if (!Output.Contains(text, StringComparison.Ordinal))
                {
                    Assert.Fail($"the process exited ({_process.ExitCode}) without printing '{text}'.\nstdout:\n{Output}\nstderr:\n{Error}");
                }
                return;
            }
            var left = timeout - deadline.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                Assert.Fail($"no '{text}' within {timeout.TotalSeconds} s.\nstdout:\n{Output}\nstderr:\n{Error}");
            }
            await Task.WhenAny(arrived, Task.Delay(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200)));
        }
    }

    /// <summary>Waits for the exit; fails the test (and kills the process) after <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            Assert.Fail($"the process did not exit within {timeout.TotalSeconds} s.\nstdout:\n{Output}\nstderr:\n{Error}");
        }
        // The parameterless wait also drains the redirected output.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Sends SIGINT, as Ctrl+C in a terminal would: the sample's own clean shutdown path.</summary>
    public void Interrupt()
    {
        if (!_process.HasExited && kill(_process.Id, SigInt) != 0)
        {
            Assert.Fail($"kill({_process.Id}, SIGINT) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private const int SigInt = 2;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    private void Append(StringBuilder into, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_gate)
        {
            into.AppendLine(line);
            _lineArrived.TrySetResult();
            _lineArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
