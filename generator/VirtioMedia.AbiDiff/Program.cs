namespace VirtioMedia.AbiDiff;

internal static class Program
{
    private static int Main(string[] args)
    {
        System.Console.Error.WriteLine("usage: VirtioMedia.AbiDiff OLD_HEADERS NEW_HEADERS (not implemented yet)");
        return 2;
    }
}
