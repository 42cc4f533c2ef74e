namespace Audit.Cli.Verification;

/// <summary>How one check ended: <c>Unavailable</c> means it could not be carried out (no signature, no network).</summary>
internal enum CheckStatus
{
    Passed,
    Failed,
    Unavailable,
}

/// <summary>One named check and why it ended as it did.</summary>
internal sealed record Check(string Name, CheckStatus Status, string Detail)
{
    public static Check Pass(string name, string detail) => new(name, CheckStatus.Passed, detail);

    public static Check Fail(string name, string detail) => new(name, CheckStatus.Failed, detail);

    public static Check Unavailable(string name, string detail) => new(name, CheckStatus.Unavailable, detail);
}

/// <summary>What the transparency log said about the report, for the output.</summary>
internal sealed record LogEvidence(long Index, long TreeSize, string RootHash, DateTimeOffset Timestamp);

/// <summary>The outcome of <c>audit verify</c>: any failed check makes it invalid; otherwise any unavailable one makes it unchecked.</summary>
internal sealed record VerificationReport(
    string File,
    IReadOnlyList<Check> Checks,
    string? Signer,
    DateTimeOffset? SigningTime,
    string? ReportSha256,
    string? ClaimsJson,
    LogEvidence? Log)
{
    public int ExitCode =>
        Checks.Any(c => c.Status == CheckStatus.Failed) ? ExitCodes.Invalid
        : Checks.Any(c => c.Status == CheckStatus.Unavailable) || Checks.Count == 0 ? ExitCodes.CouldNotCheck
        : ExitCodes.Valid;
}
