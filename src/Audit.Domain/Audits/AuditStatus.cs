namespace Audit.Domain.Audits;

/// <summary>Where an audit is in its life.</summary>
public enum AuditStatus
{
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// <summary>Rules about audit status changes.</summary>
public static class AuditStatusRules
{
    /// <summary>Succeeded, failed and cancelled audits never change again.</summary>
    public static bool IsTerminal(this AuditStatus status) =>
        status is AuditStatus.Succeeded or AuditStatus.Failed or AuditStatus.Cancelled;

    /// <summary>The wire name, lower case.</summary>
    public static string ToWire(this AuditStatus status) => status.ToString().ToLowerInvariant();

    /// <summary>Parses a wire name; null when unknown.</summary>
    public static AuditStatus? ParseWire(string? value) =>
        Enum.TryParse(value, ignoreCase: true, out AuditStatus status) && !int.TryParse(value, out _) ? status : null;
}
