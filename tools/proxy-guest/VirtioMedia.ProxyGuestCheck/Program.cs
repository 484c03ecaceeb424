using System;

namespace VirtioMedia.ProxyGuestCheck;

internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length == 1 && args[0] == "--version")
        {
            Console.WriteLine($"proxy check on .NET {Environment.Version}");
            return 0;
        }
        return 2;
    }
}
