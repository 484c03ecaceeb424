namespace VirtioMedia.Runtime.Virtqueues;

/// <summary>One buffer of a descriptor chain: a guest-physical range.</summary>
public readonly record struct ChainSegment(ulong Address, uint Length);
