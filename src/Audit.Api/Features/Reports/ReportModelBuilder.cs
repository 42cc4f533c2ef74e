using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Api.Features.Audits;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain.Findings;
using Audit.Domain.Profiles;
using Audit.Evaluators.Probes;

namespace Audit.Api.Features.Reports;

/// <summary>
/// Everything stored about a finished audit that its report needs. <paramref name="Evidence"/> holds the bytes of
/// the evidence files the findings refer to by id (read from the blob store).
/// </summary>
public sealed record AuditReportInput(
    AuditRow Audit,
    Profile Profile,
    IReadOnlyList<ControlResponse> Controls,
    IReadOnlyList<FindingResponse> Findings,
    ReportArtifact Model,
    JsonNode? ModelInventory,
    ReportArtifact? Dataset,
    IReadOnlyDictionary<string, byte[]>? Evidence = null);

/// <summary>
/// Turns a finished audit into a <see cref="ReportModel"/>. Probes feed the report through their finding details:
/// <c>statistic</c> and <c>threshold</c>; <c>evidence</c> (the worker's list of stored files by id; <c>image/png</c> ones are shown);
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
            var findings = input.Findings.Where(f => f.ControlId == control.Id).Select(f => Finding(f, catalog, input.Evidence)).ToList();
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

    private static ReportFinding Finding(FindingResponse row, ProbeCatalog catalog, IReadOnlyDictionary<string, byte[]>? evidence)
    {
        var details = row.Details;
        var citation = catalog.TryGet(row.Probe, out var probe) ? probe.Descriptor.Citation : "see docs/probes.md";
        var images = (details?["evidence"] as JsonArray ?? [])
            .OfType<JsonObject>()
            .Where(e => (string?)e["mediaType"] == "image/png")
            .Select(e => EvidenceBytes(e, evidence) is { } bytes ? new ReportImage((string?)e["caption"] ?? (string?)e["name"] ?? "evidence", bytes) : null)
            .OfType<ReportImage>()
            .ToList();
        var charts = (details?["charts"] as JsonArray ?? []).OfType<JsonObject>().Select(Chart).OfType<ReportChart>()
            .Concat(details is JsonObject known ? KnownCharts(known) : []).ToList();
        return new ReportFinding(row.Probe, ParseVerdict(row.Verdict), row.Score, Number(details?["statistic"]), Number(details?["threshold"]), row.Summary, citation, images, charts);
    }

    /// <summary>
    /// A stored evidence file's bytes by its id; findings recorded before evidence was stored apart (migration 0003)
    /// still carry them as <c>contentBase64</c>.
    /// </summary>
    private static byte[]? EvidenceBytes(JsonObject entry, IReadOnlyDictionary<string, byte[]>? evidence) =>
        (string?)entry["id"] is { } id && evidence is not null && evidence.TryGetValue(id, out byte[]? stored) ? stored
        : (string?)entry["contentBase64"] is { } base64 ? Convert.FromBase64String(base64)
        : null;

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

    /// <summary>
    /// Charts drawn from the figures the trojan and deception probes already record: Neural Cleanse's per-class mask
    /// norms (the flag line is where a norm's MAD anomaly index reaches the threshold), STRIP's entropy histograms of
    /// clean and trigger-stamped inputs, and a linear probe's AUROC per layer.
    /// </summary>
    private static IEnumerable<ReportChart> KnownCharts(JsonObject details)
    {
        if (details["maskNorms"] is JsonArray norms && norms.Count > 0)
        {
            var values = Numbers(norms);
            var flagLine = Number(details["medianNorm"]) is { } median && Number(details["medianAbsoluteDeviation"]) is { } mad && Number(details["threshold"]) is { } threshold
                ? Math.Max(0, median - (threshold * 1.4826 * mad))
                : 0;
            yield return new MaskNormChart("Per-class L1 norm of the recovered trigger mask (dashed: flagged below)",
                [.. Enumerable.Range(0, values.Count).Select(i => i.ToString(CultureInfo.InvariantCulture))], values, flagLine);
        }

        if (details["entropyHistogramClean"] is JsonArray clean && details["entropyHistogramStamped"] is JsonArray stamped)
        {
            var bins = Math.Max(clean.Count, stamped.Count);
            yield return new BinnedHistogramChart(
                "STRIP: prediction entropy under superimposition",
                "entropy, in tenths of the maximum (log2 of the class count)",
                [.. Enumerable.Range(0, bins).Select(b => $"{b / (double)bins:0.0}-{(b + 1) / (double)bins:0.0}")],
                [new HistogramSeries("clean inputs", Numbers(clean)), new HistogramSeries("inputs with the recovered trigger", Numbers(stamped))]);
        }

        if (details["aurocByLayer"] is JsonObject byLayer && byLayer.Count > 0)
        {
            yield return new LayerAurocChart("Linear probe AUROC per layer (deceptive vs honest statements)",
                [.. byLayer.Select(l => l.Key)], [.. byLayer.Select(l => Number(l.Value) ?? double.NaN)], null);
        }
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
        node is JsonValue value && value.GetValueKind() == JsonValueKind.Number
            ? double.Parse(value.ToJsonString(), CultureInfo.InvariantCulture)
            : null;

    private static List<double> Numbers(JsonNode? node) => [.. (node as JsonArray ?? []).Select(Number).OfType<double>()];

    private static List<string> Strings(JsonNode? node) => [.. (node as JsonArray ?? []).Select(n => n?.ToString() ?? "")];

    private static DateTimeOffset Parse(string value) =>
        DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}
