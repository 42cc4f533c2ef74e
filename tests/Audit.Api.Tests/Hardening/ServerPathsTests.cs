using Audit.Api.Infrastructure.Errors;

namespace Audit.Api.Tests.Hardening;

public sealed class ServerPathsTests
{
    [Theory]
    [InlineData("Could not find file '/srv/audit/data/artifacts/sha256/ab/abcdef'.", "Could not find file 'abcdef'.")]
    [InlineData("Could not find a part of the path /home/svc/data/reports/x.pdf", "Could not find a part of the path x.pdf")]
    [InlineData(@"Access to the path 'C:\audit\data\audit.db' is denied.", "Access to the path 'audit.db' is denied.")]
    [InlineData("see /api/v1/audits/aud_1 for details", "see /api/v1/audits/aud_1 for details")]
    [InlineData("ratio 3/4 and a/b stay", "ratio 3/4 and a/b stay")]
    public void Redact_KeepsOnlyFileNames(string message, string expected) => Assert.Equal(expected, ServerPaths.Redact(message));
}
