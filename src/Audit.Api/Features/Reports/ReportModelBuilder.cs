using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Api.Features.Audits;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain.Findings;
using Audit.Domain.Profiles;
using Audit.Evaluators.Models;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;

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
                ParseVerdict(result?.Verdict), result?.Reason ?? "No result was recorded for this control.", findings, control.Role);
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
            Inventory(input.ModelInventory),
            FindingsJson: FindingsJson(input));
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
        return new ReportFinding(row.Probe, ParseVerdict(row.Verdict), row.Score, Number(details?["statistic"]), Number(details?["threshold"]), row.Summary, citation, images, charts,
            Figures(details), row.Role == "supporting" ? VerdictRole.Supporting : VerdictRole.Verdict, Probability(details));
    }

    /// <summary>The test split's per-attack rates, or per placement of a patch trigger (findings before 2026-12-04, or 2026-12-05, carry none: null).</summary>
    private static List<LikelihoodAttackRates>? AttackRates(JsonNode? byAttack) =>
        byAttack is JsonArray rows
            ? [.. rows.OfType<JsonObject>()
                .Where(r => (string?)r["attack"] is not null && Number(r["backdoored"]) is not null)
                .Select(r => new LikelihoodAttackRates((string)r["attack"]!, (int)Number(r["backdoored"])!.Value, (int)(Number(r["detected"]) ?? 0), (int)(Number(r["rightTarget"]) ?? 0)))]
            : null;

    /// <summary>Rates measured on held-out models (<c>testSplit</c>, <c>manyClassTestSplit</c>, <c>foreignTestSplit</c>), or null when not recorded.</summary>
    private static ReportTestRates? TestRates(JsonNode? split) =>
        split is JsonObject t && Number(t["clean"]) is { } clean && Number(t["backdoored"]) is { } backdoored
            ? new ReportTestRates((int)clean, (int)(Number(t["falseFails"]) ?? 0), (int)backdoored, (int)(Number(t["misses"]) ?? 0),
                Number(t["auroc"]) ?? double.NaN, (int)(Number(t["detected"]) ?? 0), (int)(Number(t["rightTarget"]) ?? 0), AttackRates(t["byAttack"]), AttackRates(t["byPlacement"]),
                (int)(Number(t["inconclusiveClean"]) ?? 0), (int)(Number(t["inconclusiveBackdoored"]) ?? 0))
            : null;

    /// <summary>
    /// A calibrated probability's figures (trojan-likelihood records <c>probability</c>, <c>probabilityInterval</c>,
    /// <c>threshold</c>, how the threshold was set and <c>testSplit</c>'s measured rates); null for other findings.
    /// </summary>
    private static ReportProbability? Probability(JsonNode? details)
    {
        if (details is not JsonObject d || Number(d["probability"]) is not { } p || Number(d["threshold"]) is not { } threshold
            || d["probabilityInterval"] is not JsonArray { Count: 2 } interval)
        {
            return null;
        }

        ReportTestRates? test = TestRates(d["testSplit"]);
        return new ReportProbability(
            p,
            Number(interval[0]) ?? 0,
            Number(interval[1]) ?? 1,
            (string?)d["probabilityIntervalMethod"] ?? "not recorded",
            threshold,
            (string?)d["thresholdSource"] != "profile",
            Number(d["targetFalseFailRate"]) ?? double.NaN,
            Number(d["guaranteedFalseFailRate"]) ?? double.NaN,
            Number(d["minimumThreshold"]) ?? 0,
            (int)(Number(d["calibrationCleanModels"]) ?? 0),
            Number(d["suspectedTargetClass"]) is { } c ? (int)c : null,
            test,
            (string?)d["modelGenerated"] is { } generated && (string?)d["modelSha256"] is { } sha256 ? new ReportFittedModel(generated, sha256) : null,
            (string?)d["suspectedClassFrom"],
            TestRates(d["manyClassTestSplit"]),
            TestRates(d["foreignTestSplit"]),
            Number(d["foreignSeenWhenChosen"]) is { } seen ? (int)seen : null,
            TestRates(d["foreignUnseenTestSplit"]),
            TestRates(d["unfamiliarTestSplit"]),
            Number(d["calibrationClasses"]) is { } classes ? (int)classes : null);
    }

    /// <summary>
    /// A finding's scalar details (numbers, strings, booleans) by name: what any probe, including one this report has
    /// no chart for, measured. Arrays and objects are left to the attached findings JSON.
    /// </summary>
    private static List<ReportInventoryItem> Figures(JsonNode? details) =>
        details is not JsonObject obj ? []
        : [.. obj.Where(p => p.Value is JsonValue && p.Key is not ("statistic" or "threshold"))
            .Select(p => new ReportInventoryItem(p.Key, Number(p.Value) is { } n ? n.ToString("0.####", CultureInfo.InvariantCulture) : p.Value!.ToString()))];

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
    /// clean and trigger-stamped inputs, a linear probe's AUROC per layer, and trigger search's causal trace (layer × position).
    /// </summary>
    private static IEnumerable<ReportChart> KnownCharts(JsonObject details)
    {
        // The index the verdict used (reference-calibrated unless the finding says otherwise) against the verdict's
        // threshold: drawing raw norms against a line derived from them would contradict a calibrated finding.
        if (details["anomalyIndices"] is JsonArray indices && indices.Count > 0 && Number(details["threshold"]) is { } threshold)
        {
            var calibrated = (string?)details["calibration"] == "reference";
            var values = Numbers(indices);
            yield return new AnomalyIndexChart(
                calibrated ? "Neural Cleanse: per-class anomaly index of the reference-calibrated trigger size" : "Neural Cleanse: per-class anomaly index of the trigger mask L1 norm",
                [.. Enumerable.Range(0, values.Count).Select(i => i.ToString(CultureInfo.InvariantCulture))],
                values,
                threshold,
                calibrated ? "MAD anomaly index of log(norm / reference norm)" : "MAD anomaly index of the mask L1 norm");
        }
        else if (details["maskNorms"] is JsonArray norms && norms.Count > 0 && (string?)details["calibration"] != "reference"
            && Number(details["medianNorm"]) is { } median && Number(details["medianAbsoluteDeviation"]) is { } mad && Number(details["threshold"]) is { } rawThreshold)
        {
            // Findings from before per-class indices were recorded used the paper's raw index, so the norm at which
            // that index reaches the threshold is the verdict's own flag line.
            var values = Numbers(norms);
            yield return new MaskNormChart("Per-class L1 norm of the recovered trigger mask (dashed: flagged below)",
                [.. Enumerable.Range(0, values.Count).Select(i => i.ToString(CultureInfo.InvariantCulture))], values,
                Math.Max(0, median - (rawThreshold * 1.4826 * mad)));
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

        // Trigger search's causal trace: drawn only when it has at least one traced value and every row spans the
        // same positions, so that the heat map is the matrix the finding records.
        if (details["causalTrace"] is JsonObject trace && trace["restoredRate"] is JsonArray traced && traced.Count > 0
            && traced.OfType<JsonArray>().Select(r => r.Count).Distinct().Count() == 1 && traced.All(r => r is JsonArray { Count: > 0 }))
        {
            var values = Strings(trace["values"]);
            if (values.Count == traced.Count)
            {
                yield return new CausalTraceChart(
                    "Causal trace of the found trigger: share of flipped answers restored by one clean hidden state",
                    values,
                    [.. traced.OfType<JsonArray>().Select(r => (IReadOnlyList<double>)Numbers(r))],
                    (int)(Number(details["position"]) ?? -1),
                    (int)(Number(details["length"]) ?? 0),
                    (int)(Number(trace["prompts"]) ?? 0));
            }
        }

        if (details["aurocByLayer"] is JsonObject byLayer && byLayer.Count > 0)
        {
            yield return new LayerAurocChart("Linear probe AUROC per layer (deceptive vs honest statements)",
                [.. byLayer.Select(l => l.Key)], [.. byLayer.Select(l => Number(l.Value) ?? double.NaN)], null);
        }
    }

    /// <summary>The audit's findings as the API returns them, attached to the PDF for machines to read.</summary>
    private static string FindingsJson(AuditReportInput input) =>
        new JsonObject
        {
            ["auditId"] = input.Audit.Id,
            ["verdict"] = input.Audit.Verdict,
            ["profile"] = new JsonObject { ["id"] = input.Audit.ProfileId, ["version"] = input.Audit.ProfileVersion, ["contentHash"] = input.Audit.ProfileHash },
            ["seed"] = input.Audit.Seed,
            ["controls"] = JsonSerializer.SerializeToNode(input.Controls, JsonSerializerOptions.Web),
            ["findings"] = JsonSerializer.SerializeToNode(input.Findings, JsonSerializerOptions.Web),
        }.ToJsonString(new JsonSerializerOptions(JsonSerializerOptions.Web) { WriteIndented = true });

    private static List<string> Summary(Profile profile, Verdict verdict, List<ReportControl> controls)
    {
        var deciding = controls.Where(c => c.Role == VerdictRole.Verdict).ToList();
        var supporting = controls.Where(c => c.Role == VerdictRole.Supporting).ToList();
        var summary = new List<string>
        {
            $"The model was audited against {profile.Title} ({profile.Id} {profile.Version})" +
            (string.IsNullOrEmpty(profile.Regulation) ? "." : $", which maps {profile.Regulation}.") +
            $" Overall verdict: {verdict.ToString().ToUpperInvariant()}.",
            $"{deciding.Count(c => c.Verdict == Verdict.Pass)} of {deciding.Count} controls passed, " +
            $"{deciding.Count(c => c.Verdict == Verdict.Fail)} failed and {deciding.Count(c => c.Verdict == Verdict.Inconclusive)} were inconclusive." +
            (supporting.Count == 0 ? "" :
                $" {supporting.Count} further control{(supporting.Count == 1 ? " is" : "s are")} reported as supporting evidence and did not decide the verdict " +
                $"({supporting.Count(c => c.Verdict == Verdict.Fail)} of them flagged)."),
        };
        foreach (var finding in deciding.SelectMany(c => c.Findings).Where(f => f.Role == VerdictRole.Verdict && f.Probability is not null))
        {
            summary.Add(ProbabilitySummary(finding.Probe, finding.Probability!));
        }

        return summary;
    }

    /// <summary>One paragraph on a calibrated probability: its value, what decides, and how often that decision was wrong.</summary>
    internal static string ProbabilitySummary(string probe, ReportProbability p)
    {
        var text = string.Create(CultureInfo.InvariantCulture,
            $"The backdoor verdict comes from {probe}: a calibrated probability that the model is backdoored, p(trojan) = {p.Probability:0.00} " +
            $"(95% interval {p.Lower:0.00}–{p.Upper:0.00}), against the threshold {p.Threshold:0.00}; the model {(p.Probability >= p.Threshold ? "is flagged" : "is not flagged")}.");
        if (p.Test is { } t)
        {
            text += string.Create(CultureInfo.InvariantCulture,
                $" On {t.Clean + t.Backdoored} held-out test models never used to fit or tune it, this threshold failed {t.FalseFails} of {t.Clean} clean models " +
                $"and missed {t.Misses} of {t.Backdoored} backdoored ones (AUROC {t.Auroc:0.000}).") + t.InconclusiveClause;
            if (t.ByAttack is { Count: > 0 } attacks)
            {
                text += $" Caught by attack: {LikelihoodAttackRates.CaughtList(attacks)}.";
                if (LikelihoodAttackRates.WeaklyCaught(attacks) is { Count: > 0 } weak)
                {
                    text += $" A pass is weak evidence against {string.Join(" and ", weak)} backdoors.";
                }
            }

            if (t.ByPlacement is { Count: > 0 } placements)
            {
                text += $" All-to-one patch triggers by where they sat: {LikelihoodAttackRates.CaughtList(placements)}.";
                if (LikelihoodAttackRates.WeaklyCaught(placements) is { Count: > 0 } weakPlaces)
                {
                    text += $" A pass is weak evidence against a {string.Join(" or a ", weakPlaces)}.";
                }
            }
        }

        if (p.ManyClassTest is { } m)
        {
            text += string.Create(CultureInfo.InvariantCulture,
                $" On {m.Clean + m.Backdoored} held-out 43-class colour models, unlike the ten-class models it was fitted on, it failed {m.FalseFails} of {m.Clean} clean " +
                $"and missed {m.Misses} of {m.Backdoored} backdoored ones (AUROC {m.Auroc:0.000}).") + m.InconclusiveClause;
        }

        if (p.UnfamiliarTest is { } unfamiliar)
        {
            text += string.Create(CultureInfo.InvariantCulture,
                $" On {unfamiliar.Clean + unfamiliar.Backdoored} held-out models trained by recipes no fit has seen (many of them on architectures no fit has seen) it failed {unfamiliar.FalseFails} of {unfamiliar.Clean} clean " +
                $"and missed {unfamiliar.Misses} of {unfamiliar.Backdoored} backdoored ones (AUROC {unfamiliar.Auroc:0.000}).") + unfamiliar.InconclusiveClause;
        }

        if (p.ForeignTest is { } f)
        {
            text += string.Create(CultureInfo.InvariantCulture,
                $" On {f.Clean + f.Backdoored} models trained outside the project (other code, architectures and triggers) it failed {f.FalseFails} of {f.Clean} clean " +
                $"and missed {f.Misses} of {f.Backdoored} backdoored ones (AUROC {f.Auroc:0.000}).");
            if (p.ForeignSeenWhenChosen is { } seen && p.ForeignUnseenTest is { } u)
            {
                text += string.Create(CultureInfo.InvariantCulture,
                    $" {seen} of those had been read when this fit was chosen; on the other {u.Clean + u.Backdoored}, read only afterwards, it failed {u.FalseFails} of {u.Clean} clean " +
                    $"and missed {u.Misses} of {u.Backdoored} backdoored ones (AUROC {u.Auroc:0.000}).");
            }
        }

        return text;
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
        var runtime = TorchRuntimeInfo.Current();
        var reproducibility = new List<ReportInventoryItem>
        {
            new("seed", input.Audit.Seed.ToString(CultureInfo.InvariantCulture)),
            new("device", input.Audit.Device ?? "unknown"),
            new("libtorch intra-op threads", runtime.Threads.ToString(CultureInfo.InvariantCulture)),
            new("TorchSharp", runtime.TorchSharpVersion),
            new("libtorch", runtime.LibTorchVersion),
            new("convolution kernels", $"{runtime.ConvolutionKernels.Kernels}: {runtime.ConvolutionKernels.Detail}"),
            new(".NET", RuntimeInformation.FrameworkDescription),
            new("operating system", $"{RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture})"),
            new("service version", ServiceVersion),
            new("service commit", ServiceCommit),
            new("profile", $"{input.Audit.ProfileId} {input.Audit.ProfileVersion} ({input.Audit.ProfileHash})"),
            new("model SHA-256", input.Model.Sha256),
            new("dataset SHA-256", input.Dataset?.Sha256 ?? "none"),
            new("attempts", input.Audit.Attempts.ToString(CultureInfo.InvariantCulture)),
        };
        foreach (var control in input.Profile.Controls)
        {
            foreach (var probe in control.Probes)
            {
                var finding = input.Findings.FirstOrDefault(f => f.ControlId == control.Id && string.Equals(f.Probe, probe.Probe, StringComparison.Ordinal));
                reproducibility.Add(new($"{control.Id} / {probe.Probe}", EffectiveSettings(probe, catalog, AppliedThreshold(finding))));
            }
        }

        // One row per probe and threshold it ran at: a rate measured at another threshold would misstate this audit's.
        var errorRates = input.Profile.Controls.SelectMany(c => c.Probes)
            .Select(p => (p.Probe, Threshold: p.Threshold ?? (catalog.TryGet(p.Probe, out var registered) ? registered.Descriptor.DefaultThreshold : (double?)null)))
            .Distinct()
            .Select(p => ProbeErrorRates.For(p.Probe, p.Threshold))
            .ToList();
        return new ReportMethodology(methods, limitations, reproducibility, errorRates);
    }

    /// <summary>
    /// The parameters and threshold a probe ran with: the profile's values with the probe's defaults filled in, as the
    /// worker's <see cref="ProbeCatalog.WithDefaults"/> fills them, so a rerun needs nothing but this table.
    /// </summary>
    private static string EffectiveSettings(ProbeRequirement requirement, ProbeCatalog catalog, double? applied)
    {
        if (!catalog.TryGet(requirement.Probe, out var probe))
        {
            var given = requirement.Parameters.Count == 0 ? "none given" : string.Join(", ", requirement.Parameters.Select(p => $"{p.Key} = {p.Value.GetRawText()}"));
            return $"probe not registered in this service version; profile parameters: {given}; threshold {(requirement.Threshold?.ToString(CultureInfo.InvariantCulture) ?? "probe default")}";
        }

        var effective = ProbeCatalog.WithDefaults(probe.Descriptor, requirement.Parameters);
        var parameters = effective.Count == 0 ? "none" : string.Join(", ", effective.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} = {p.Value.GetRawText()}"));
        var threshold = (requirement.Threshold ?? probe.Descriptor.DefaultThreshold).ToString(CultureInfo.InvariantCulture);
        // A probe's default may depend on the model (trojan-likelihood thresholds a model of more than ten classes on
        // 43-class models): the row names the threshold the finding records, so the table does not misstate the audit's.
        var ownDefault = requirement.Threshold is null && applied is double a && Math.Abs(a - probe.Descriptor.DefaultThreshold) > 1e-9
            ? $"; applied to this model: {a.ToString(CultureInfo.InvariantCulture)}, the probe's default for it, as its finding records"
            : "";
        return $"threshold {threshold}{(requirement.Threshold is null ? $" (probe default{ownDefault})" : "")}; parameters: {parameters}";
    }

    /// <summary>
    /// The threshold a probe chose for the model itself, where its finding says so: <c>details.threshold</c> with a
    /// <c>thresholdSource</c> other than "profile" (trojan-likelihood's conformal threshold). Other probes' details may
    /// hold a "threshold" that is not the flag threshold (accuracy records its minimum), so nothing else is read.
    /// </summary>
    private static double? AppliedThreshold(FindingResponse? finding) =>
        finding?.Details is JsonObject details
        && details["thresholdSource"] is JsonValue source && source.TryGetValue(out string? from) && from != "profile"
        && details["threshold"] is JsonValue value && value.TryGetValue(out double threshold)
            ? threshold
            : null;

    /// <summary>
    /// The commit the service was built from: the SDK appends <c>+SourceRevisionId</c> to the informational version
    /// when the build knows it.
    /// </summary>
    private static string ServiceCommit =>
        ServiceVersion.IndexOf('+', StringComparison.Ordinal) is var plus and >= 0 ? ServiceVersion[(plus + 1)..] : "not recorded by this build";

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
