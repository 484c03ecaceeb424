using System;
using System.Collections.Generic;
using VirtioMedia.Runtime.Memory;

namespace VirtioMedia.Runtime.VhostUser;

public sealed partial class VhostUserBackend
{
    // SET_MEM_TABLE: a new table swapped in place while the device runs.
    private sealed partial class Connection
    {
        private void SetMemoryTable(VhostUserMessage message)
        {
            // The decoder checked the region count (at most 8), the table's size (the regions in use, as QEMU
            // sends it, or the full 8 slots) and one descriptor a region.
            var count = System.Runtime.InteropServices.MemoryMarshal.Read<uint>(message.Payload);
            var regions = new MemoryTableSnapshot.Description[count];
            var files = new List<UnixFileDescriptor>();
            MemoryTableSnapshot table;
            try
            {
                for (var i = 0; i < count; i++)
                {
                    var offset = VhostUserProtocol.MemoryTableHeaderSize + i * VhostUserProtocol.MemoryRegionSize;
                    message.TryRead<ulong>(offset, out var guest);
                    message.TryRead<ulong>(offset + 8, out var size);
                    message.TryRead<ulong>(offset + 16, out var user);
                    message.TryRead<ulong>(offset + 24, out var mmapOffset);
                    var fd = message.TakeFileDescriptor(i)!;
                    files.Add(fd);
                    if (size == 0 || mmapOffset + size < mmapOffset || guest + size < guest || user + size < user)
                    {
                        throw new RefusedException($"region {i} [0x{guest:X}, +{size}) at file offset 0x{mmapOffset:X} is empty or wraps");
                    }
                    if (!MemoryMapping.TrySealAgainstShrinking(fd) && !Options.AcceptUnsealableMemory)
                    {
                        throw new RefusedException($"region {i}: its file cannot be sealed against shrinking (a truncation would be SIGBUS here); see {nameof(VhostUserBackendOptions.AcceptUnsealableMemory)}");
                    }
                    regions[i] = new MemoryTableSnapshot.Description(guest, size, user, mmapOffset, fd);
                }
                // Files already mapped for the current table keep their mapping (mapped from offset 0,
                // so an mmap offset need not be page-aligned).
                table = MemoryTableSnapshot.Create(regions, _table);
            }
            finally
            {
                foreach (var fd in files)
                {
                    fd.Dispose();
                }
            }
            // Guest memory holds one reference to each table it maps, given back once the table has been
            // replaced and the last lease that may reach it (a command, an event delivery, a copy into guest
            // pages) is returned: only then are its mappings unmapped.
            var leased = table.AddReference();
            try
            {
                if (_running is not null && !RingsStayInPlace(table))
                {
                    StopDevice("memory table moved the rings");
                }
                if (_memory is null)
                {
                    _memory = new GuestMemory(table.Regions, leased.Release);
                }
                else
                {
                    _memory.Replace(table.Regions, leased.Release);
                }
            }
            catch
            {
                leased.Release();
                table.Release();
                throw;
            }
            var previous = _table;
            _table = table;
            // A running device keeps its queues and sessions and sees the new table from its next access on.
            previous.Release();
            Options.Log?.Invoke($"memory table: {count} regions{(_running is null ? "" : ", swapped while the device runs")}");
        }

        /// <summary>Whether every ring of the running device is at the same guest address in <paramref name="table"/>.</summary>
        private bool RingsStayInPlace(MemoryTableSnapshot table)
        {
            foreach (var vring in _vrings)
            {
                foreach (var user in (ReadOnlySpan<ulong>)[vring.DescriptorUser, vring.AvailableUser, vring.UsedUser])
                {
                    if (!_table.TryTranslate(user, out var before) || !table.TryTranslate(user, out var after) || before != after)
                    {
                        return false;
                    }
                }
            }
            return true;
        }
    }
}
