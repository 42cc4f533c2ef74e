using System.Text.Json;
using System.Text.Json.Serialization;

namespace Audit.Api.Features.Reports;

/// <summary>
/// The facts a report asserts, embedded in the signed PDF (document information entry <c>/AuditClaims</c>) so that a
/// verifier reads them from the very bytes the signature covers.
/// </summary>
public sealed record ReportClaims(
    string ReportId,
    string AuditId,
    string Tenant,
    string ModelSha256,
    string? DatasetSha256,
    string ProfileId,
    string ProfileVersion,
    string ProfileContentHash,
    string Verdict,
    DateTimeOffset IssuedAt)
{
    public const string InfoKey = "/AuditClaims";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static ReportClaims From(ReportModel model) => new(
        model.ReportId,
        model.AuditId,
        model.Tenant,
        model.Model.Sha256,
        model.Dataset?.Sha256,
        model.Profile.Id,
        model.Profile.Version,
        model.Profile.ContentHash,
        model.Verdict.ToString().ToLowerInvariant(),
        model.IssuedAt);

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static ReportClaims? TryParse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<ReportClaims>(json, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
