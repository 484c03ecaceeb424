using System;
using System.Threading;
using System.Threading.Tasks;
using VirtioMedia.Runtime.Memory;
using VirtioMedia.Runtime.Transport;
using VirtioMedia.Runtime.Virtqueues;

namespace VirtioMedia.Runtime.VhostUser;

public sealed partial class VhostUserBackend
{
    // The device run: started once every ring is set up and enabled, stopped only after the device has finished.
    private sealed partial class Connection
    {
        private void TryStart()
        {
            if (_running is not null || _memory is null)
            {
                return;
            }
            foreach (var vring in _vrings)
            {
                if (vring.Size == 0 || !vring.AddressSet || vring.Kick is null || !vring.Enabled)
                {
                    return;
                }
            }
            var eventIndex = (_features & VhostUserFeatures.Bit(VhostUserFeatures.VIRTIO_F_RING_EVENT_IDX)) != 0;
            var queues = new DeviceQueue[QueueCount];
            for (var i = 0; i < QueueCount; i++)
            {
                var vring = _vrings[i];
                if (!_table.TryTranslate(vring.DescriptorUser, out var descriptors) || !_table.TryTranslate(vring.AvailableUser, out var available) || !_table.TryTranslate(vring.UsedUser, out var used))
                {
                    throw new VhostUserProtocolException($"vring {i}: ring addresses are in no memory region");
                }
                try
                {
                    queues[i] = new DeviceQueue(_memory, new SplitQueueLayout(vring.Size, descriptors, available, used), eventIndex, vring.Base);
                }
                catch (Exception error) when (error is ArgumentException or GuestMemoryException)
                {
                    throw new VhostUserProtocolException($"vring {i}: {error.Message}");
                }
            }
            if (_sharedRegion is null && owner._sharedMemorySize > 0 && Negotiated(VhostUserProtocolFeatures.SHMEM))
            {
                var file = MemoryFile.Create("virtio-media-shm0", owner._sharedMemorySize);
                _sharedFile = file;
                // The file is unmapped once the region has ended and a device thread still copying into it is done.
                _sharedRegion = new SharedMemoryRegion(0, file.Mapping.Address, file.Length, file.Dispose);
            }
            var transport = new VhostUserDeviceTransport(
                _memory, queues[0], queues[1], _vrings[0].Kick!, _vrings[1].Kick!, _vrings[0].Call, _vrings[1].Call,
                Negotiated(VhostUserProtocolFeatures.SHMEM) && _sharedRegion is not null ? _sharedRegion : NoSharedMemory);
            var stop = CancellationTokenSource.CreateLinkedTokenSource(_connectionToken);
            var running = new DeviceRun(transport, stop);
            _running = running;
            var mapped = MapSharedMemory(running);
            running.Serve(Task.Run(async () =>
            {
                await mapped.ConfigureAwait(false);
                await owner._serve(transport, stop.Token).ConfigureAwait(false);
            }));
            Options.Log?.Invoke($"device started: queues of {_vrings[0].Size} and {_vrings[1].Size}, event index {(eventIndex ? "on" : "off")}");
        }

        private void StopDevice(string reason)
        {
            var running = _running;
            if (running is null)
            {
                return;
            }
            _running = null;
            lock (running)
            {
                running.Stopped = true;
            }
            running.Stop.Cancel();
            try
            {
                // However long it takes: the rings' bases are only true once the device has finished, and the
                // memory it reaches (region 0 included) is released only after it.
                var waited = TimeSpan.Zero;
                while (!running.Serving.Wait(Options.StopTimeout))
                {
                    waited += Options.StopTimeout;
                    Options.Log?.Invoke($"device still stopping after {waited} ({reason})");
                }
            }
            catch (AggregateException error) when (error.InnerException is OperationCanceledException)
            {
            }
            catch (AggregateException error)
            {
                Options.Log?.Invoke($"device failed: {error.InnerException?.Message}");
            }
            running.Stop.Dispose();
            _vrings[0].Base = running.Transport.CommandQueue.NextAvailable;
            _vrings[1].Base = running.Transport.EventQueue.NextAvailable;
            // No SHMEM_UNMAP: the front-end drops every mapping across a reset ("Back-end message types",
            // SHMEM_MAP), and QEMU 11.1.3 crashes on one that reaches its stopped device. The next start maps again.
            _sharedMapped = false;
            Options.Log?.Invoke($"device stopped: {reason}");
        }
    }
}
