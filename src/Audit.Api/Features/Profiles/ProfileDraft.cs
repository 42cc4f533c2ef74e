using System.Text.Json;
using Audit.Domain.Profiles;

namespace Audit.Api.Features.Profiles;

/// <summary>
/// A profile as submitted, every field optional, so validation can name each missing or wrong field
/// instead of failing as a whole on deserialization.
/// </summary>
public sealed record ProfileDraft(
    string? Id,
    string? Version,
    string? Title,
    string? Regulation,
    string? Description,
    IReadOnlyList<ControlDraft?>? Controls)
{
    public Profile ToProfile() => new(
        Id!, Version!, Title!, Regulation ?? "", Description,
        Controls!.Select(c => c!.ToControl()).ToList());
}

public sealed record ControlDraft(
    string? Id,
    string? Clause,
    string? Title,
    IReadOnlyList<ProbeDraft?>? Probes,
    IReadOnlyList<string?>? Evidence,
    string? Combine,
    string? Role = null)
{
    public Control ToControl() => new(
        Id!, Clause!, Title!,
        Probes!.Select(p => p!.ToRequirement()).ToList(),
        (Evidence ?? []).Select(e => ProfileVocabulary.ParseEvidence(e)!.Value).ToList(),
        ProfileVocabulary.ParseCombine(Combine)!.Value,
        ProfileVocabulary.ParseRole(Role)!.Value);
}

public sealed record ProbeDraft(
    string? Probe,
    Dictionary<string, JsonElement>? Parameters,
    JsonElement? Threshold,
    string? Role = null)
{
    public ProbeRequirement ToRequirement() => new(
        Probe!,
        Parameters ?? [],
        Threshold is { ValueKind: JsonValueKind.Number } t ? t.GetDouble() : null,
        ProfileVocabulary.ParseRole(Role)!.Value);
}

/// <summary>The words profiles use for evidence and combination rules.</summary>
public static class ProfileVocabulary
{
    public static EvidenceRequirement? ParseEvidence(string? value) => value switch
    {
        "dataset" => EvidenceRequirement.Dataset,
        "labelled-dataset" => EvidenceRequirement.LabelledDataset,
        "sequence-prompts" => EvidenceRequirement.SequencePrompts,
        _ => null,
    };

    /// <summary>A control's or probe's role; absent means <c>verdict</c>, so profiles written before roles keep their meaning.</summary>
    public static VerdictRole? ParseRole(string? value) => value switch
    {
        null or "verdict" => VerdictRole.Verdict,
        "supporting" => VerdictRole.Supporting,
        _ => null,
    };

    public static CombineRule? ParseCombine(string? value) => value switch
    {
        null or "any-fail" => CombineRule.AnyFail,
        "majority" => CombineRule.Majority,
        "all-pass" => CombineRule.AllPass,
        _ => null,
    };
}
