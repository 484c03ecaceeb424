using System;
using System.IO;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using VirtioMedia.Runtime.VhostUser;

namespace VirtioMedia.Tests.VhostUser;

[TestClass]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class VhostUserListenerTests
{
    private static string NewPath() => Path.Combine(Path.GetTempPath(), "vm-listener-" + Guid.NewGuid().ToString("N") + ".sock");

    [TestMethod]
    public void A_file_that_is_not_a_socket_is_neither_deleted_nor_listened_on()
    {
        var path = NewPath();
        File.WriteAllText(path, "precious");
        try
        {
            var error = Assert.ThrowsExactly<IOException>(() => VhostUserListener.Listen(path));
            StringAssert.Contains(error.Message, "not a socket");
            Assert.AreEqual("precious", File.ReadAllText(path), "the file is untouched");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void The_socket_is_its_owners_alone_and_a_stale_one_is_replaced()
    {
        var path = NewPath();
        // A crashed run leaves its socket file behind: bound by a socket since closed, the file stays.
        BindAndClose(path);
        Assert.IsTrue(File.Exists(path));
        using (var listener = VhostUserListener.Listen(path))
        {
            Assert.AreEqual(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path), "0600 whatever the umask");
            using var client = VhostUserChannel.Connect(path);
        }
        Assert.IsFalse(File.Exists(path), "removed when the listener is disposed");

        using (VhostUserListener.Listen(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite))
        {
            Assert.AreEqual(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, File.GetUnixFileMode(path), "or the mode asked for");
        }
    }

    private static unsafe void BindAndClose(string path)
    {
        var fd = Socket(1 /* AF_UNIX */, 1 /* SOCK_STREAM */, 0);
        Assert.IsTrue(fd >= 0);
        var address = new byte[110]; // struct sockaddr_un: sa_family_t, then sun_path[108]
        address[0] = 1;
        System.Text.Encoding.UTF8.GetBytes(path).CopyTo(address, 2);
        fixed (byte* raw = address)
        {
            Assert.AreEqual(0, Bind(fd, raw, address.Length));
        }
        Close(fd);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "socket")]
    private static extern int Socket(int domain, int type, int protocol);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "bind")]
    private static extern unsafe int Bind(int fd, byte* address, int length);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int fd);
}
