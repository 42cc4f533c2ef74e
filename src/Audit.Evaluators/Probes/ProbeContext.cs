using System.Text.Json;
using Audit.Evaluators.Inventory;
using Audit.Evaluators.Models;
using Audit.Evaluators.Sessions;

namespace Audit.Evaluators.Probes;

/// <summary>Everything one probe run may use. Built by the probe runner; never by the API.</summary>
public sealed class ProbeContext
{
    /// <summary>Path of the model file inside the artifact store.</summary>
    public required string ModelPath { get; init; }

    /// <summary>Path of the dataset file inside the artifact store, when the audit has one.</summary>
    public string? DatasetPath { get; init; }

    /// <summary>Parameters from the profile, already validated against the descriptor; defaults filled in.</summary>
    public required IReadOnlyDictionary<string, JsonElement> Parameters { get; init; }

    /// <summary>Flag threshold from the profile (or the descriptor's default).</summary>
    public required double Threshold { get; init; }

    /// <summary>
    /// True when the profile set <see cref="Threshold"/>, false when it is the descriptor's default. A probe whose
    /// default depends on the model (trojan-likelihood thresholds a model of more than ten classes on 43-class models)
    /// applies its own default only when the profile set none, and honours a profile's threshold even where it equals
    /// the descriptor's.
    /// </summary>
    public bool ThresholdFromProfile { get; init; }

    /// <summary>Seed for every random choice the probe makes.</summary>
    public required int Seed { get; init; }

    /// <summary>Where tensors live.</summary>
    public required ComputeDevice Device { get; init; }

    /// <summary>Loads (and caches for the audit) the model as a differentiable graph on <see cref="Device"/>.</summary>
    public required IModelSource Models { get; init; }

    /// <summary>Progress in [0, 1].</summary>
    public required IProgress<double> Progress { get; init; }

    /// <summary>The audit's evidence, read and placed on <see cref="Device"/> once for all its probes.</summary>
    public required AuditEvidence Evidence { get; init; }

    /// <summary>Results the probes of this audit share; gone when the audit's session ends.</summary>
    public required SessionCache Session { get; init; }

    /// <summary>The model's inventory when the caller already has one (the upload's inspection); null: inspect the file.</summary>
    public ModelInventory? Inventory { get; init; }

    /// <summary>Optional observer of where probe time goes (benchmarks); null in audits.</summary>
    public ProbeTimings? Timings { get; init; }

    /// <summary>True when the probe runs in a lane: its tensor work goes to the lane's thread, set to one libtorch thread.</summary>
    public bool InLane => Lane is not null;

    /// <summary>The session's lane threads when the probe runs in a lane; null: the probe runs with the host's threads.</summary>
    internal ProbeLanes? Lane { get; init; }

    public int GetInt(string name) => Parameters[name].GetInt32();

    public double GetDouble(string name) => Parameters[name].GetDouble();

    public bool GetBool(string name) => Parameters[name].GetBoolean();

    public string GetString(string name) => Parameters[name].GetString() ?? "";
}
