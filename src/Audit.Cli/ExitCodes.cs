namespace Audit.Cli;

/// <summary>Process exit codes, stable for scripts.</summary>
internal static class ExitCodes
{
    /// <summary>The report verified, or the command did what it was asked.</summary>
    public const int Valid = 0;

    /// <summary>The report is not valid, the API refused the request, or the audit failed to run.</summary>
    public const int Invalid = 1;

    /// <summary>Nothing could be judged: unreadable input, no signature, network or configuration error.</summary>
    public const int CouldNotCheck = 2;
}
