namespace VirtioMedia.Generator.Model;

/// <summary>A VIDIOC_* request decoded from its value and its <c>_IO*</c> macro.</summary>
/// <param name="Name">The macro name.</param>
/// <param name="Request">The full request value.</param>
/// <param name="Number">_IOC_NR: the code that goes on the virtio-media wire.</param>
/// <param name="Direction">_IOC_DIR: 0 none, 1 write (driver to device), 2 read, 3 both.</param>
/// <param name="PayloadNativeType">The C type named in the macro, or empty for <c>_IO</c>.</param>
/// <param name="PayloadType">The C# type of the payload, or empty.</param>
/// <param name="PayloadSize">_IOC_SIZE, checked equal to sizeof the payload type.</param>
public sealed record IoctlDesc(
    string Name,
    ulong Request,
    int Number,
    int Direction,
    string PayloadNativeType,
    string PayloadType,
    int PayloadSize);
