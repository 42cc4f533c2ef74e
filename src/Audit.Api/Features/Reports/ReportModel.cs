using Audit.Domain.Findings;
using Audit.Domain.Profiles;

namespace Audit.Api.Features.Reports;

/// <summary>Everything a report shows, already decided; rendering adds no facts of its own.</summary>
public sealed record ReportModel(
    string ReportId,
    string AuditId,
    string Tenant,
    ReportArtifact Model,
    ReportArtifact? Dataset,
    ReportProfile Profile,
    Verdict Verdict,
    DateTimeOffset SubmittedAt,
    DateTimeOffset CompletedAt,
    DateTimeOffset IssuedAt,
    string Device,
    string ServiceVersion,
    IReadOnlyList<string> ExecutiveSummary,
    IReadOnlyList<ReportControl> Controls,
    ReportMethodology Methodology,
    IReadOnlyList<ReportInventoryItem> ModelInventory,
    ReportVerificationFacts? Verification = null,
    string? FindingsJson = null);

/// <summary>
/// Where and how to verify the report, known before signing: the transparency-log index reserved for it, the issuing
/// service's address, its /verify page and served documentation, and the SHA-256 fingerprint of the root certificate.
/// </summary>
public sealed record ReportVerificationFacts(long LogIndex, string ServiceUrl, string VerifyUrl, string DocsUrl, string RootFingerprintSha256);

public sealed record ReportArtifact(string Name, string Sha256);

public sealed record ReportProfile(string Id, string Version, string ContentHash);

/// <summary>
/// One control of the profile: the clause it maps and what its findings add up to; a <see cref="VerdictRole.Supporting"/>
/// control is reported but does not decide the audit's verdict.
/// </summary>
public sealed record ReportControl(
    string ControlId,
    string Title,
    string Clause,
    Verdict Verdict,
    string Reason,
    IReadOnlyList<ReportFinding> Findings,
    VerdictRole Role = VerdictRole.Verdict);

/// <summary>One probe's finding with its evidence (<c>Figures</c>: the scalar values of its details, shown for probes the report draws no chart for); <c>Score</c> is statistic / threshold (≥ 1 flagged), null when nothing was measured.</summary>
public sealed record ReportFinding(
    string Probe,
    Verdict Verdict,
    double? Score,
    double? Statistic,
    double? Threshold,
    string Summary,
    string Citation,
    IReadOnlyList<ReportImage> Images,
    IReadOnlyList<ReportChart> Charts,
    IReadOnlyList<ReportInventoryItem>? Figures = null,
    VerdictRole Role = VerdictRole.Verdict,
    ReportProbability? Probability = null);

/// <summary>
/// A calibrated probability finding (trojan-likelihood): p, its interval, the threshold and how it was set, and the
/// error rates measured on held-out models, so the report can say what the number means.
/// </summary>
public sealed record ReportProbability(
    double Probability,
    double Lower,
    double Upper,
    string IntervalMethod,
    double Threshold,
    bool ConformalThreshold,
    double TargetFalseFailRate,
    double GuaranteedFalseFailRate,
    double MinimumThreshold,
    int CalibrationCleanModels,
    int? SuspectedClass,
    ReportTestRates? Test,
    ReportFittedModel? FittedModel = null,
    string? SuspectedClassFrom = null,
    ReportTestRates? ManyClassTest = null,
    ReportTestRates? ForeignTest = null,
    int? ForeignSeenWhenChosen = null,
    ReportTestRates? ForeignUnseenTest = null,
    ReportTestRates? UnfamiliarTest = null,
    int? CalibrationClasses = null);

/// <summary>The fitted model a calibrated probability came from: when it was fitted, and the SHA-256 of its file.</summary>
public sealed record ReportFittedModel(string Generated, string Sha256);

/// <summary>
/// Error rates of a calibrated probe at its default threshold on a held-out test split (never used to fit it), with
/// the per-attack-family counts the finding recorded (findings before 2026-12-04: none) and the all-to-one patch
/// triggers' counts by placement (findings before 2026-12-05: none), and the models the probe was inconclusive on
/// because they were not shown to do their task (above chance; since 2026-12-07 also right on more than half of the
/// evidence; findings before 2026-12-06: none recorded).
/// </summary>
public sealed record ReportTestRates(int Clean, int FalseFails, int Backdoored, int Misses, double Auroc, int Detected, int RightTarget,
    IReadOnlyList<Audit.Evaluators.Probes.Trojans.LikelihoodAttackRates>? ByAttack = null,
    IReadOnlyList<Audit.Evaluators.Probes.Trojans.LikelihoodAttackRates>? ByPlacement = null,
    int InconclusiveClean = 0,
    int InconclusiveBackdoored = 0)
{
    /// <summary>The sentence on those inconclusive models, or "".</summary>
    public string InconclusiveClause => Audit.Evaluators.Probes.Trojans.LikelihoodTestRates.InconclusiveClause(InconclusiveClean, InconclusiveBackdoored);
}

/// <summary>A PNG a probe produced (a recovered trigger mask or pattern).</summary>
public sealed record ReportImage(string Caption, byte[] Png);

/// <summary>Numbers the report draws as a chart.</summary>
public abstract record ReportChart(string Title);

/// <summary>Per-class trigger mask norms (Neural Cleanse) with the anomaly threshold drawn as a line.</summary>
public sealed record MaskNormChart(string Title, IReadOnlyList<string> ClassLabels, IReadOnlyList<double> Norms, double Threshold)
    : ReportChart(Title);

/// <summary>
/// Per-class anomaly index (Neural Cleanse, reference-calibrated when the finding says so) against the verdict's own
/// threshold: a class is flagged when its index reaches the threshold, exactly as the finding decides.
/// </summary>
public sealed record AnomalyIndexChart(string Title, IReadOnlyList<string> ClassLabels, IReadOnlyList<double> Indices, double Threshold, string IndexLabel)
    : ReportChart(Title);

/// <summary>Distributions (STRIP entropies of clean and perturbed inputs) with an optional decision threshold.</summary>
public sealed record HistogramChart(string Title, string ValueLabel, IReadOnlyList<HistogramSeries> Series, double? Threshold)
    : ReportChart(Title);

public sealed record HistogramSeries(string Label, IReadOnlyList<double> Values);

/// <summary>Distributions a probe already binned (equal-width bins labelled by <c>BinLabels</c>), e.g. STRIP's entropy histograms.</summary>
public sealed record BinnedHistogramChart(string Title, string ValueLabel, IReadOnlyList<string> BinLabels, IReadOnlyList<HistogramSeries> Series)
    : ReportChart(Title);

/// <summary>Per-layer probe AUROC for a deception indicator against the same probe on control labels.</summary>
public sealed record LayerAurocChart(string Title, IReadOnlyList<string> Layers, IReadOnlyList<double> Auroc, IReadOnlyList<double>? ControlAuroc)
    : ReportChart(Title);

/// <summary>
/// A causal trace (Meng et al., NeurIPS 2022) of a found trigger: <c>Restored[value][position]</c> is the share of the
/// triggered prompts whose clean answer returns when that one hidden state is restored from the clean run.
/// <c>Values</c> are the traced hidden-state values in graph order (first = closest to the input); the trigger occupies
/// positions <c>TriggerStart</c>..<c>TriggerStart + TriggerLength − 1</c>.
/// </summary>
public sealed record CausalTraceChart(
    string Title,
    IReadOnlyList<string> Values,
    IReadOnlyList<IReadOnlyList<double>> Restored,
    int TriggerStart,
    int TriggerLength,
    int Prompts)
    : ReportChart(Title);

public sealed record ReportMethodology(
    IReadOnlyList<string> Methods,
    IReadOnlyList<string> Limitations,
    IReadOnlyList<ReportInventoryItem> Reproducibility,
    IReadOnlyList<ReportErrorRate>? ErrorRates = null);

/// <summary>A probe's error rates as measured on fixture models, with where the measurement is documented.</summary>
public sealed record ReportErrorRate(string Probe, string FalsePositives, string FalseNegatives, string Source);

public sealed record ReportInventoryItem(string Name, string Value);
