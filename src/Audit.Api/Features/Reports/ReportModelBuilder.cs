using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Api.Features.Audits;
using Audit.Domain.Findings;
using Audit.Domain.Profiles;
using Audit.Evaluators.Probes;

namespace Audit.Api.Features.Reports;

/// <summary>Everything stored about a finished audit that its report needs.</summary>
public sealed record AuditReportInput(
    AuditRow Audit,
    Profile Profile,
    IReadOnlyList<ControlResponse> Controls,
    IReadOnlyList<FindingResponse> Findings,
    ReportArtifact Model,
    JsonNode? ModelInventory,
    ReportArtifact? Dataset);

/// <summary>
/// Turns a finished audit into a <see cref="ReportModel"/>. Probes feed the report through their finding details:
/// <c>statistic</c> and <c>threshold</c>; <c>evidence</c> (the worker's list of files; <c>image/png</c> ones are shown);
/// and <c>charts</c>, an array of <c>{"type":"mask-norms","title","labels","values","threshold"}</c>,
/// <c>{"type":"histogram","title","valueLabel","series":[{"label","values"}],"threshold"}</c> or
/// <c>{"type":"layer-auroc","title","layers","auroc","controlAuroc"}</c>.
/// </summary>
public static class ReportModelBuilder
{
    public static string ServiceVersion { get; } =
        typeof(ReportModelBuilder).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    public static string ReportIdFor(string auditId) => "rpt_" + auditId;

    public static ReportModel Build(AuditReportInput input, ProbeCatalog catalog, DateTimeOffset issuedAt)
    {
        var audit = input.Audit;
        var verdict = ParseVerdict(audit.Verdict);
        var controls = input.Profile.Controls.Select(control =>
        {
            var result = input.Controls.FirstOrDefault(c => c.ControlId == control.Id);
            var findings = input.Findings.Where(f => f.ControlId == control.Id).Select(f => Finding(f, catalog)).ToList();
            return new ReportControl(
                control.Id, control.Title, control.Clause,
                ParseVerdict(result?.Verdict), result?.Reason ?? "No result was recorded for this control.", findings);
        }).ToList();

        return new ReportModel(
            ReportIdFor(audit.Id),
            audit.Id,
            audit.TenantId,
            input.Model,
            input.Dataset,
            new ReportProfile(audit.ProfileId, audit.ProfileVersion, audit.ProfileHash),
            verdict,
            Parse(audit.CreatedAt),
            audit.FinishedAt is null ? issuedAt : Parse(audit.FinishedAt),
            issuedAt,
            audit.Device ?? "unknown",
            ServiceVersion,
            Summary(input.Profile, verdict, controls),
            controls,
            Methodology(input, catalog),
            Inventory(input.ModelInventory));
    }

    private static ReportFinding Finding(FindingResponse row, ProbeCatalog catalog)
    {
        var details = row.Details;
        var citation = catalog.TryGet(row.Probe, out var probe) ? probe.Descriptor.Citation : "see docs/probes.md";
        var images = (details?["evidence"] as JsonArray ?? [])
            .OfType<JsonObject>()
            .Where(e => (string?)e["mediaType"] == "image/png" && e["contentBase64"] is not null)
            .Select(e => new ReportImage((string?)e["caption"] ?? (string?)e["name"] ?? "evidence", Convert.FromBase64String((string)e["contentBase64"]!)))
            .ToList();
        var charts = (details?["charts"] as JsonArray ?? []).OfType<JsonObject>().Select(Chart).OfType<ReportChart>().ToList();
        return new ReportFinding(row.Probe, ParseVerdict(row.Verdict), row.Score, Number(details?["statistic"]), Number(details?["threshold"]), row.Summary, citation, images, charts);
    }

    private static ReportChart? Chart(JsonObject chart)
    {
        var title = (string?)chart["title"] ?? "chart";
        return (string?)chart["type"] switch
        {
            "mask-norms" => new MaskNormChart(title, Strings(chart["labels"]), Numbers(chart["values"]), Number(chart["threshold"]) ?? 0),
            "histogram" => new HistogramChart(title, (string?)chart["valueLabel"] ?? "value",
                [.. (chart["series"] as JsonArray ?? []).OfType<JsonObject>().Select(s => new HistogramSeries((string?)s["label"] ?? "", Numbers(s["values"])))],
                Number(chart["threshold"])),
            "layer-auroc" => new LayerAurocChart(title, Strings(chart["layers"]), Numbers(chart["auroc"]), chart["controlAuroc"] is null ? null : Numbers(chart["controlAuroc"])),
            _ => null,
        };
    }

    private static List<string> Summary(Profile profile, Verdict verdict, List<ReportControl> controls)
    {
        var summary = new List<string>
        {
            $"The model was audited against {profile.Title} ({profile.Id} {profile.Version})" +
            (string.IsNullOrEmpty(profile.Regulation) ? "." : $", which maps {profile.Regulation}.") +
            $" Overall verdict: {verdict.ToString().ToUpperInvariant()}.",
            $"{controls.Count(c => c.Verdict == Verdict.Pass)} of {controls.Count} controls passed, " +
            $"{controls.Count(c => c.Verdict == Verdict.Fail)} failed and {controls.Count(c => c.Verdict == Verdict.Inconclusive)} were inconclusive.",
        };
        summary.AddRange(controls.Where(c => c.Verdict != Verdict.Pass).Select(c => $"{c.ControlId} ({c.Clause}): {c.Verdict.ToString().ToUpperInvariant()}: {c.Reason}"));
        return summary;
    }

    private static ReportMethodology Methodology(AuditReportInput input, ProbeCatalog catalog)
    {
        var probes = input.Profile.Controls.SelectMany(c => c.Probes).Select(p => p.Probe).Distinct(StringComparer.Ordinal).ToList();
        var methods = probes.Select(name => catalog.TryGet(name, out var probe)
            ? $"{probe.Descriptor.Title} ({name}): {probe.Descriptor.Citation}. {probe.Descriptor.ThresholdMeaning}"
            : $"{name}: probe no longer registered in this service version.").ToList();
        methods.Add("Each finding's score is its statistic divided by its flag threshold: a score of 1 or more is flagged. Control verdicts combine findings by the profile's rule.");
        var limitations = new List<string>
        {
            "Probes give evidence, not proof: a pass means the methods above found nothing at their thresholds, not that no backdoor or deceptive feature exists.",
            "A control whose evidence (dataset, labels, prompts) was not supplied is inconclusive, never passed.",
            "Findings hold for the exact model and dataset bytes named by their SHA-256 on the cover; any other file needs its own audit.",
        };
        var reproducibility = new List<ReportInventoryItem>
        {
            new("seed", input.Audit.Seed.ToString(CultureInfo.InvariantCulture)),
            new("device", input.Audit.Device ?? "unknown"),
            new("profile", $"{input.Audit.ProfileId} {input.Audit.ProfileVersion} ({input.Audit.ProfileHash})"),
            new("model SHA-256", input.Model.Sha256),
            new("dataset SHA-256", input.Dataset?.Sha256 ?? "none"),
            new("service version", ServiceVersion),
            new("attempts", input.Audit.Attempts.ToString(CultureInfo.InvariantCulture)),
        };
        foreach (var control in input.Profile.Controls)
        {
            foreach (var probe in control.Probes)
            {
                var parameters = probe.Parameters.Count == 0 ? "defaults" : JsonSerializer.Serialize(probe.Parameters);
                reproducibility.Add(new($"{control.Id} / {probe.Probe}", $"parameters {parameters}; threshold {(probe.Threshold?.ToString(CultureInfo.InvariantCulture) ?? "probe default")}"));
            }
        }

        return new ReportMethodology(methods, limitations, reproducibility);
    }

    /// <summary>The model inventory flattened to name/value rows (nested objects as dotted names).</summary>
    private static List<ReportInventoryItem> Inventory(JsonNode? inventory)
    {
        var rows = new List<ReportInventoryItem>();
        void Walk(string prefix, JsonNode? node)
        {
            switch (node)
            {
                case JsonObject obj:
                    foreach (var (key, value) in obj)
                    {
                        Walk(prefix.Length == 0 ? key : $"{prefix}.{(key.Length == 0 ? "ai.onnx" : key)}", value);
                    }

                    break;
                case JsonArray array when array.All(a => a is JsonObject):
                    for (var i = 0; i < array.Count; i++)
                    {
                        Walk($"{prefix}[{i}]", array[i]);
                    }

                    break;
                default:
                    rows.Add(new ReportInventoryItem(prefix, node?.ToJsonString() is { } text ? text.Trim('"') : "null"));
                    break;
            }
        }

        Walk("", inventory);
        return rows.Count > 0 ? rows : [new ReportInventoryItem("inventory", "not recorded")];
    }

    private static Verdict ParseVerdict(string? value) => value switch
    {
        "pass" => Verdict.Pass,
        "fail" => Verdict.Fail,
        _ => Verdict.Inconclusive,
    };

    private static double? Number(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<double>(out var number) ? number : null;

    private static List<double> Numbers(JsonNode? node) => [.. (node as JsonArray ?? []).Select(Number).OfType<double>()];

    private static List<string> Strings(JsonNode? node) => [.. (node as JsonArray ?? []).Select(n => n?.ToString() ?? "")];

    private static DateTimeOffset Parse(string value) =>
        DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}
