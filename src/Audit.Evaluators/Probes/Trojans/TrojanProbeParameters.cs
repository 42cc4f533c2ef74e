namespace Audit.Evaluators.Probes.Trojans;

/// <summary>Parameters shared by the trojan probes, so one profile setting means the same thing everywhere.</summary>
internal static class TrojanProbeParameters
{
    public static ProbeParameter InputBounds { get; } = new(
        "inputBounds",
        ProbeParameterType.NumberArray,
        "Valid input range [low, high] of the model (e.g. [0, 255], or the normalised range). Empty: the dataset's minimum and maximum.",
        ProbeParameters.Json(Array.Empty<double>()));

    public static ProbeParameter Layer { get; } = new(
        "layer",
        ProbeParameterType.String,
        "Value name of the representation to analyse. Empty: the input of the classifier head (the last [N, D] value before the logits).",
        ProbeParameters.Json(""));

    public static ProbeParameter MaxSteps { get; } = new(
        "maxSteps", ProbeParameterType.Integer, "Most optimisation steps of trigger reverse-engineering (all classes at once).", ProbeParameters.Json(300), 10, 5000);

    public static ProbeParameter SamplesPerClass { get; } = new(
        "samplesPerClass", ProbeParameterType.Integer, "Clean inputs per class in each optimisation step.", ProbeParameters.Json(24), 4, 512);

    /// <summary>Reverse-engineering settings from a probe's parameters (others keep the Neural Cleanse defaults).</summary>
    public static ReverseEngineeringSettings ReverseEngineering(ProbeParameters parameters, int seed) => new(
        MaxSteps: parameters.Int("maxSteps"),
        SamplesPerClass: parameters.Int("samplesPerClass"),
        LearningRate: 0.1,
        InitialCost: 1e-3,
        AttackThreshold: 0.99,
        CheckEvery: 10,
        CostPatience: 2,
        EarlyStopPatience: 5,
        Seed: seed);

    /// <summary>The model's device and dataset size, for summaries.</summary>
    public static string Where(ClassifierEvidence evidence) => $"{evidence.Count} inputs on {evidence.Model.Device.Name}";
}
