using System.Text.Json;

namespace Audit.Evaluators.Probes;

/// <summary>What a probe is, where its method comes from, and what it accepts.</summary>
/// <param name="Name">Stable kebab-case name used by profiles, e.g. <c>neural-cleanse</c>.</param>
/// <param name="Title">Human title for reports.</param>
/// <param name="Citation">Paper and year, e.g. "Wang et al., Neural Cleanse, IEEE S&amp;P 2019".</param>
/// <param name="ModelKinds">Which models it applies to.</param>
/// <param name="Evidence">Which dataset the probe needs, if any.</param>
/// <param name="DefaultThreshold">Flag threshold used when a profile gives none; the score is statistic / threshold.</param>
/// <param name="ThresholdMeaning">What the statistic is and which side of the threshold is flagged.</param>
/// <param name="Parameters">Accepted parameters with types and ranges; anything else is rejected by validation.</param>
public sealed record ProbeDescriptor(
    string Name,
    string Title,
    string Citation,
    ModelKinds ModelKinds,
    EvidenceKind Evidence,
    double DefaultThreshold,
    string ThresholdMeaning,
    IReadOnlyList<ProbeParameter> Parameters)
{
    /// <summary>
    /// True when the probe may run on a lane: on one libtorch thread, beside other lane probes of the same audit.
    /// Such a probe keeps no process-wide state (its random draws come from its own seeded generators), so its results
    /// are the same whatever ran beside it, and on one thread the same whatever the host's thread count. Other probes
    /// run alone, with the host's threads.
    /// </summary>
    public bool RunsInLane { get; init; }
}

/// <summary>A parameter a probe accepts.</summary>
/// <param name="Name">Name used in profiles.</param>
/// <param name="Type">JSON type.</param>
/// <param name="Description">What it changes.</param>
/// <param name="Default">Value when a profile gives none.</param>
/// <param name="Minimum">Smallest accepted number (numbers, integers, array items).</param>
/// <param name="Maximum">Largest accepted number.</param>
/// <param name="AllowedValues">For a string parameter, the only values accepted (null: any string).</param>
public sealed record ProbeParameter(
    string Name,
    ProbeParameterType Type,
    string Description,
    JsonElement Default,
    double? Minimum = null,
    double? Maximum = null,
    IReadOnlyList<string>? AllowedValues = null);

/// <summary>JSON type of a probe parameter.</summary>
public enum ProbeParameterType
{
    Integer,
    Number,
    Boolean,
    String,
    NumberArray,
}

/// <summary>The families of model a probe can inspect.</summary>
[Flags]
public enum ModelKinds
{
    None = 0,

    /// <summary>Image or tabular classifiers: float input <c>[N, ...]</c> → logits <c>[N, C]</c>.</summary>
    Classifier = 1,

    /// <summary>Language-style models: <c>input_ids</c> int64 <c>[B, T]</c> → <c>logits</c> <c>[B, T, V]</c>.</summary>
    Sequence = 2,

    Any = Classifier | Sequence,
}

/// <summary>The dataset evidence a probe requires.</summary>
public enum EvidenceKind
{
    /// <summary>The model alone suffices.</summary>
    None,

    /// <summary>A safetensors file with <c>inputs</c> (float32 <c>[N, ...]</c>); labels optional.</summary>
    Inputs,

    /// <summary>A safetensors file with <c>inputs</c> and int64 <c>labels</c> <c>[N]</c>.</summary>
    LabelledInputs,

    /// <summary>A JSON Lines file of token-id prompt pairs and labelled statements.</summary>
    SequencePrompts,
}
