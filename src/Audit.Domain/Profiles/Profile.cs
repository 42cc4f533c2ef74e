using System.Text.Json;
using System.Text.Json.Serialization;

namespace Audit.Domain.Profiles;

/// <summary>
/// A regulation turned into controls. A version is immutable once an audit used it: audits keep a copy
/// of the exact content and its <see cref="ProfileHash"/>.
/// </summary>
/// <param name="Id">Stable kebab-case id, e.g. <c>eu-ai-act-art15</c>.</param>
/// <param name="Version">Semantic version, e.g. <c>1.0.0</c>.</param>
/// <param name="Title">Human title.</param>
/// <param name="Regulation">The regulation it maps, e.g. "Regulation (EU) 2024/1689 (EU AI Act)"; empty for technical scans.</param>
/// <param name="Description">What a passing audit against this profile does and does not establish.</param>
/// <param name="Controls">The controls, each tied to a clause.</param>
public sealed record Profile(
    string Id,
    string Version,
    string Title,
    string Regulation,
    string? Description,
    IReadOnlyList<Control> Controls);

/// <summary>A requirement of a clause, checked by probes whose findings combine into one verdict.</summary>
/// <param name="Id">Unique within the profile.</param>
/// <param name="Clause">The clause text it maps, e.g. "Article 15(5): resilience against data poisoning".</param>
/// <param name="Title">What the control checks.</param>
/// <param name="Probes">Probes with parameters and thresholds.</param>
/// <param name="Evidence">Evidence the control needs; missing evidence makes the control inconclusive.</param>
/// <param name="Combine">How the findings combine.</param>
/// <param name="Role">
/// Whether the control's verdict decides the audit's (<see cref="VerdictRole.Verdict"/>, the default) or is reported as
/// supporting evidence only. Left out of the JSON when it is the default, so profiles written before roles existed
/// keep their content hash.
/// </param>
public sealed record Control(
    string Id,
    string Clause,
    string Title,
    IReadOnlyList<ProbeRequirement> Probes,
    IReadOnlyList<EvidenceRequirement> Evidence,
    CombineRule Combine,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] VerdictRole Role = VerdictRole.Verdict);

/// <summary>A probe a control runs.</summary>
/// <param name="Probe">Registered probe name.</param>
/// <param name="Parameters">Probe parameters; unknown names or values out of range are rejected when the profile is created.</param>
/// <param name="Threshold">Flag threshold for the probe's statistic; null takes the probe's default.</param>
/// <param name="Role">
/// Whether the finding counts in the control's verdict (<see cref="VerdictRole.Verdict"/>, the default) or is
/// recorded and reported as supporting evidence only. Left out of the JSON when it is the default.
/// </param>
public sealed record ProbeRequirement(
    string Probe,
    IReadOnlyDictionary<string, JsonElement> Parameters,
    double? Threshold,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] VerdictRole Role = VerdictRole.Verdict);

/// <summary>Evidence an audit must supply for a control.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EvidenceRequirement>))]
public enum EvidenceRequirement
{
    /// <summary>A dataset artifact of inputs (labels optional).</summary>
    [JsonStringEnumMemberName("dataset")]
    Dataset,

    /// <summary>A dataset artifact of inputs with labels.</summary>
    [JsonStringEnumMemberName("labelled-dataset")]
    LabelledDataset,

    /// <summary>A JSON Lines artifact of prompt pairs and labelled statements for sequence models.</summary>
    [JsonStringEnumMemberName("sequence-prompts")]
    SequencePrompts,
}

/// <summary>How a control's findings combine into its verdict.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CombineRule>))]
public enum CombineRule
{
    /// <summary>Any failing finding fails the control; otherwise any inconclusive one makes it inconclusive.</summary>
    [JsonStringEnumMemberName("any-fail")]
    AnyFail,

    /// <summary>More than half failing fails it; more than half passing passes it; otherwise inconclusive.</summary>
    [JsonStringEnumMemberName("majority")]
    Majority,

    /// <summary>Passes only when every finding passes, fails only when every finding fails; disagreement is inconclusive.</summary>
    [JsonStringEnumMemberName("all-pass")]
    AllPass,
}

/// <summary>
/// Whether a control decides the audit's verdict, or a probe its control's verdict. Supporting evidence is run,
/// recorded and reported (findings, API, PDF) beside the deciding evidence, but never changes a verdict: a profile
/// can show what several detectors saw while one calibrated measurement, whose error rates are stated, decides.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<VerdictRole>))]
public enum VerdictRole
{
    /// <summary>Counts: a probe's finding in its control's verdict, a control's verdict in the audit's.</summary>
    [JsonStringEnumMemberName("verdict")]
    Verdict,

    /// <summary>Reported as evidence only; never changes a verdict.</summary>
    [JsonStringEnumMemberName("supporting")]
    Supporting,
}
