using System;
using System.Threading.Tasks;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;
using VirtioMedia.Proxy;
using VirtioMedia.Runtime.Driver;

namespace VirtioMedia.Tests.Runtime;

/// <summary>SHARED_PAGES buffers laid out scattered (one entry per page, never adjacent) or contiguous (one run), as a
/// device that forwards buffers (the proxy's <see cref="ScatterRanges"/>) tells them apart.</summary>
[TestClass]
public sealed class SharedPagesLayoutTests
{
    private const uint Length = 3 * SharedPagesBuffer.PageSize + 100;

    [TestMethod]
    public async Task A_contiguous_buffer_is_one_entry_that_a_device_can_use_in_place()
    {
        await using var rig = RuntimeRig.Start();
        using var buffer = rig.Driver.AllocateSharedPages(Length, SharedPagesLayout.Contiguous);
        var entries = buffer.SgEntries.Span;
        Assert.AreEqual(1, entries.Length);
        Assert.AreEqual(Length, entries[0].len);
        Assert.AreEqual(0UL, entries[0].start % SharedPagesBuffer.PageSize, "page aligned");
        Assert.IsTrue(ScatterRanges.TryGetHostRange(rig.Transport.Memory, entries, Length, out var host));
        unsafe
        {
            buffer.Fill(0x5A);
            var inPlace = new ReadOnlySpan<byte>((void*)host, (int)Length);
            Assert.IsTrue(inPlace.IndexOfAnyExcept((byte)0x5A) < 0, "the host range is the buffer's memory");
        }
    }

    [TestMethod]
    public async Task A_scattered_buffer_has_an_entry_per_page_and_no_host_range()
    {
        await using var rig = RuntimeRig.Start();
        using var buffer = rig.Driver.AllocateSharedPages(Length);
        var entries = buffer.SgEntries.Span;
        Assert.AreEqual(4, entries.Length);
        Assert.AreEqual(100u, entries[3].len);
        Assert.IsFalse(ScatterRanges.TryGetHostRange(rig.Transport.Memory, entries, Length, out _));
    }

    [TestMethod]
    public async Task Contiguous_buffers_return_their_whole_run_to_driver_memory()
    {
        await using var rig = RuntimeRig.Start();
        // 6 MiB runs out of 16 MiB of driver memory: eight in turn fit only if each came back whole.
        const uint half = 6 << 20;
        for (var i = 0; i < 8; i++)
        {
            using var first = rig.Driver.AllocateSharedPages(half, SharedPagesLayout.Contiguous);
        }
        using var kept = rig.Driver.AllocateSharedPages(half, SharedPagesLayout.Contiguous);
        Assert.ThrowsExactly<InvalidOperationException>(() => rig.Driver.AllocateSharedPages(16 << 20, SharedPagesLayout.Contiguous));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => rig.Driver.AllocateSharedPages(Length, (SharedPagesLayout)7));
    }
}
