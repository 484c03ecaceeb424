using System;
using System.Linq;
using System.Reflection;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Abi;

namespace VirtioMedia.Tests.Abi;

/// <summary>The ioctl table against gcc's expansion of the <c>_IO*</c> macros and the header text.</summary>
[TestClass]
public sealed class IoctlTableTests
{
    private readonly TestContext _context;

    public IoctlTableTests(TestContext context) => _context = context;

    [TestMethod]
    public void Every_ioctl_has_the_gcc_number_direction_size_and_request()
    {
        var asserts = new StaticAsserts();
        foreach (var ioctl in Ioctls.All)
        {
            var name = ioctl.Name;
            asserts.Equal($"_IOC_NR({name})", ioctl.Number, $"{name}: _IOC_NR");
            asserts.Equal($"_IOC_DIR({name})", (int)ioctl.Direction, $"{name}: _IOC_DIR");
            asserts.Equal($"_IOC_SIZE({name})", ioctl.PayloadSize, $"{name}: _IOC_SIZE");
            asserts.EqualInteger(name, ioctl.Request, $"{name}: request");
            if (ioctl.PayloadType is { } payload)
            {
                asserts.Equal($"sizeof({ioctl.PayloadNativeType})", ioctl.PayloadSize, $"{name}: sizeof {ioctl.PayloadNativeType}");
                asserts.Equal($"sizeof({ioctl.PayloadNativeType})", ClrLayout.SizeOf(payload), $"{name}: sizeof {payload.Name}");
            }
            else
            {
                Assert.AreEqual(IoctlDirection.None, ioctl.Direction, $"{name} has a direction but no payload type");
                Assert.AreEqual(string.Empty, ioctl.PayloadNativeType, $"{name} has a payload C type but no payload type");
            }
        }

        Gcc.AssertCompiles("ioctls.c", asserts.ToString());
        _context.WriteLine($"gcc agrees on {Ioctls.All.Count} ioctls ({asserts.Count} assertions)");
    }

    [TestMethod]
    public void The_table_has_every_VIDIOC_macro_of_videodev2()
    {
        var macros = HeaderText.IoctlMacros();
        _context.WriteLine($"videodev2.h defines {macros.Count} VIDIOC_* requests with _IO*");
        // The count of the Linux 6.1 header, pinned so that a header or regex change is noticed.
        Assert.AreEqual(82, macros.Count);
        Assert.AreEqual(82, Ioctls.All.Count(i => i.Name.StartsWith("VIDIOC_", StringComparison.Ordinal)));
        CollectionAssert.AreEquivalent(macros.ToList(), Ioctls.All.Select(i => i.Name).ToList());
    }

    [TestMethod]
    public void Typed_fields_and_the_table_agree()
    {
        var fields = typeof(Ioctls).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => typeof(Ioctl).IsAssignableFrom(f.FieldType))
            .ToList();
        Assert.AreEqual(Ioctls.All.Count, fields.Count);
        foreach (var field in fields)
        {
            var descriptor = ((Ioctl)field.GetValue(null)!).Descriptor;
            Assert.AreEqual(field.Name, descriptor.Name);
            Assert.IsTrue(Ioctls.All.Contains(descriptor), $"{field.Name} is not in Ioctls.All");
            // FindByNumber answers only for a number that one ioctl alone has.
            var unique = Ioctls.All.Count(i => i.Number == descriptor.Number) == 1;
            Assert.AreSame(unique ? descriptor : null, Ioctls.FindByNumber(descriptor.Number), $"FindByNumber({descriptor.Number})");
            var payload = field.FieldType.IsGenericType ? field.FieldType.GetGenericArguments()[0] : null;
            Assert.AreEqual(payload, descriptor.PayloadType, $"{field.Name}: Ioctl<T> and PayloadType differ");
        }
    }

    [TestMethod]
    public void VIDIOC_G_FMT_is_code_4_both_ways_as_the_spec_says()
    {
        // virtio-media puts _IOC_NR on the wire; the spec's example is VIDIOC_G_FMT = 4, an _IOWR ioctl.
        var descriptor = Ioctls.VIDIOC_G_FMT.Descriptor;
        Assert.AreEqual(4, descriptor.Number);
        Assert.AreEqual(IoctlDirection.ReadWrite, descriptor.Direction);
        Assert.AreSame(descriptor, Ioctls.FindByNumber(4));
    }
}
