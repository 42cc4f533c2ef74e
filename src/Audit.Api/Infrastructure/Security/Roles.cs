namespace Audit.Api.Infrastructure.Security;

/// <summary>Roles an API key carries, and the policies endpoints require.</summary>
public static class Roles
{
    public const string Compliance = "compliance";
    public const string Auditor = "auditor";
    public const string Regulator = "regulator";
    public const string Admin = "admin";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal) { Compliance, Auditor, Regulator, Admin };

    /// <summary>Roles bound to a tenant; regulators and admins see no tenant data.</summary>
    public static bool IsTenantRole(string role) => role is Compliance or Auditor;
}

public static class Policies
{
    /// <summary>Upload artifacts, submit and cancel audits, create profiles.</summary>
    public const string Submit = "submit";

    /// <summary>Read the tenant's artifacts, audits and reports.</summary>
    public const string ReadTenant = "read-tenant";

    /// <summary>Verify reports (regulators, auditors, compliance).</summary>
    public const string Verify = "verify";

    /// <summary>Read who downloaded and verified the tenant's reports: the tenant's auditors.</summary>
    public const string ReadAccessLog = "read-access-log";

    /// <summary>Manage tenants and keys.</summary>
    public const string Admin = "admin";

    /// <summary>Create custom profiles: admins and compliance.</summary>
    public const string ManageProfiles = "manage-profiles";
}
