using System;
using System.IO;
using System.Linq;
using System.Reflection;

namespace VirtioMedia.Tests;

/// <summary>Paths inside the repository the tests were built from.</summary>
internal static class Repository
{
    public static string Root { get; } = typeof(Repository).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepositoryRoot").Value
        ?? throw new InvalidOperationException("RepositoryRoot metadata missing");

    public static string AbiHeaders => Path.Combine(Root, "abi-headers");

    public static string HeaderSets => Path.Combine(Root, "tests", "HeaderSets");
}
