namespace VirtioMedia.Runtime.VhostUser;

public sealed partial class VhostUserBackend
{
    /// <summary>What the front-end set up for one vring.</summary>
    private sealed class Vring
    {
        public ushort Size;
        public ulong DescriptorUser;
        public ulong UsedUser;
        public ulong AvailableUser;
        public bool AddressSet;
        public ushort Base;
        public EventFdNotificationSource? Kick;
        public readonly ForwardingNotifier Call = new();
        public bool Enabled;
    }
}
