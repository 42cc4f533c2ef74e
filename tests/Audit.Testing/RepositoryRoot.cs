namespace Audit.Testing;

/// <summary>
/// The checkout's root folder (the one holding <c>Audit.sln</c>), found by walking up from the test assembly, for tests
/// that read committed files (docs, the committed survey) or run the repository's scripts.
/// </summary>
public static class RepositoryRoot
{
    public static string Folder { get; } = Find();

    private static string Find()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Audit.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"Audit.sln not found above {AppContext.BaseDirectory}.");
    }
}
