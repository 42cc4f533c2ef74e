using Audit.Api.Features.Transparency;

namespace Audit.Worker.Tests.Support;

/// <summary>
/// A fact that needs the transparency log shared by every process on one database (issue 16, item 3: entries in the
/// database, appends serialised across processes, <c>DatabaseTransparencyLogStore</c>). In a build whose log is still
/// per-process files (each process keeps its own idea of the log's size), the test is skipped with that reason: it
/// would only show that limitation again. It runs as soon as the shared log is in the build.
/// </summary>
public sealed class SharedLogFactAttribute : FactAttribute
{
    public SharedLogFactAttribute()
    {
        if (typeof(TransparencyLog).Assembly.GetType("Audit.Api.Features.Transparency.DatabaseTransparencyLogStore") is null)
        {
            Skip = "The transparency log of this build is per-process files; the multi-process fault test needs the database log (issue 16, item 3).";
        }
    }
}
