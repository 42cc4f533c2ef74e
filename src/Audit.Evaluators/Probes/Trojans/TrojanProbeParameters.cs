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

    public static ProbeParameter StampedShare { get; } = new(
        "stampedShare", ProbeParameterType.Number, "Share of the dataset added again stamped with the recovered trigger (0: dataset only).", ProbeParameters.Json(0.03), 0.005, 0.5);

    public static ProbeParameter MaxSteps { get; } = new(
        "maxSteps", ProbeParameterType.Integer, "Most optimisation steps of trigger reverse-engineering (screening and refinement; each step serves every active class at once).", ProbeParameters.Json(400), 10, 5000);

    public static ProbeParameter Restarts { get; } = new(
        "restarts", ProbeParameterType.Integer, "Random starts of trigger reverse-engineering for each candidate class (the √K lowest after screening, at least 3); the smallest working trigger is kept.", ProbeParameters.Json(2), 1, 8);

    public static ProbeParameter SamplesPerClass { get; } = new(
        "samplesPerClass", ProbeParameterType.Integer, "Clean inputs per class in each optimisation step.", ProbeParameters.Json(16), 4, 512);

    public static ProbeParameter ReferenceCalibration { get; } = new(
        "referenceCalibration",
        ProbeParameterType.Boolean,
        "Compare each class's trigger with the trigger recovered for it on a reference distilled from the model on the clean inputs (removes classes that are naturally cheap to reach). false: the paper's index over raw norms.",
        ProbeParameters.Json(true));

    public static ProbeParameter ReferenceSteps { get; } = new(
        "referenceSteps", ProbeParameterType.Integer, "Training steps (batches of 128) of the distilled reference.", ProbeParameters.Json(300), 50, 5000);

    public static ProbeParameter RequireAnomalousTrigger { get; } = new(
        "requireAnomalousTrigger",
        ProbeParameterType.Boolean,
        "Flag only on a candidate trigger: one whose (calibrated) Neural Cleanse anomaly index reaches candidateIndex. A minimal trigger of natural size also dominates predictions and forms its own sub-population, on clean models too; its statistic is still reported.",
        ProbeParameters.Json(true));

    public static ProbeParameter CandidateIndex { get; } = new(
        "candidateIndex", ProbeParameterType.Number, "Anomaly index from which the suspected class's trigger is a candidate backdoor trigger (Neural Cleanse's threshold).", ProbeParameters.Json(2.0), 0, 100);

    /// <summary>Whether the scan's suspected trigger is a candidate backdoor trigger under the probe's settings.</summary>
    public static bool IsCandidate(ProbeParameters parameters, TriggerScan scan) =>
        !parameters.Bool("requireAnomalousTrigger") || scan.AnomalyIndex >= parameters.Double("candidateIndex");

    /// <summary>Why a trigger-testing probe does not flag: no class's trigger is anomalous.</summary>
    public static string NoCandidate(TriggerScan scan) => string.Create(
        System.Globalization.CultureInfo.InvariantCulture,
        $"No candidate trigger: the smallest recovered trigger (class {scan.SuspectedClass}, anomaly index {scan.AnomalyIndex:F2}) is not anomalously small, so what follows describes a trigger of natural size, which is not evidence of a backdoor.");

    public static ProbeParameter RatioNoise { get; } = new(
        "ratioNoise",
        ProbeParameterType.Number,
        "Run-to-run noise (standard deviation) of a class's log norm ratio; the calibrated index never divides by a smaller spread. Measured across seeds on the fixtures (docs/probes.md).",
        ProbeParameters.Json(0.25),
        0,
        5);

    /// <summary>The parameters every trojan probe takes, because they share one trigger scan.</summary>
    public static IReadOnlyList<ProbeParameter> Scan { get; } = [MaxSteps, Restarts, SamplesPerClass, ReferenceCalibration, ReferenceSteps, RatioNoise, InputBounds];

    /// <summary>Parameters of the probes that test the recovered trigger (STRIP, activation clustering, spectral signatures).</summary>
    public static IReadOnlyList<ProbeParameter> TriggerTest { get; } = [RequireAnomalousTrigger, CandidateIndex, .. Scan];

    /// <summary>
    /// The shared trigger scan (reverse-engineering, reference calibration, suspected class) with the probe's settings;
    /// runs once per audit and model, later probes reuse it.
    /// </summary>
    public static TriggerScan RunScan(ProbeParameters parameters, ClassifierEvidence evidence, ProbeContext context, IProgress<double>? progress, CancellationToken cancellationToken) =>
        TriggerScan.Run(
            evidence,
            ReverseEngineering(parameters, context.Seed),
            parameters.Bool("referenceCalibration") ? TriggerCalibration.Reference : TriggerCalibration.None,
            Reference(parameters, context.Seed),
            parameters.Double("ratioNoise"),
            progress,
            cancellationToken);

    /// <summary>
    /// The distilled reference's settings from a probe's parameters: every probe that compares with the reference asks
    /// for it with these, so the session distils it once (<see cref="DistilledReference.Shared"/>).
    /// </summary>
    public static ReferenceSettings Reference(ProbeParameters parameters, int seed) =>
        new(parameters.Int("referenceSteps"), BatchSize: 128, LearningRate: 3e-3, Temperature: 2, seed);

    /// <summary>Reverse-engineering settings from a probe's parameters (others keep the Neural Cleanse defaults).</summary>
    public static ReverseEngineeringSettings ReverseEngineering(ProbeParameters parameters, int seed) => new(
        MaxSteps: parameters.Int("maxSteps"),
        SamplesPerClass: parameters.Int("samplesPerClass"),
        LearningRate: 0.1,
        InitialCost: 1.0,
        AttackThreshold: 0.99,
        CheckEvery: 10,
        CostPatience: 1,
        EarlyStopPatience: 4,
        EvaluationInputs: 100,
        Restarts: parameters.Int("restarts"),
        Seed: seed,
        ScreeningSteps: ScreeningSteps,
        Threads: ScanThreads,
        ChunkElements: 1L << 18);

    /// <summary>
    /// Steps of the first pass every class gets (five check rounds): enough for a backdoor target's mask, which
    /// shrinks fastest, to rank among the lowest, and cheap enough that its cost per class is an eighth of a full
    /// Neural Cleanse run.
    /// </summary>
    public const int ScreeningSteps = 50;

    /// <summary>
    /// libtorch intra-op threads of each scan lane. Fixed, so the same model, evidence and seed give the same numbers
    /// whatever the host's thread count; one, because the scan runs two lanes (audited model, reference) at once.
    /// </summary>
    public const int ScanThreads = 1;

    /// <summary>
    /// What reproduces the scan's numbers: the seed, the fixed intra-op thread count, the tensor library's versions,
    /// and the processor with libtorch's kernel choice (vectorised kernels of another instruction set round
    /// differently; setting <c>ATEN_CPU_CAPABILITY</c> to the recorded value before start reproduces them elsewhere),
    /// and whether the convolutions ran on oneDNN or on libtorch's own kernels (<see cref="Runtime.ConvolutionKernelCheck"/>).
    /// </summary>
    public static System.Text.Json.Nodes.JsonObject Reproducibility(int seed)
    {
        Models.TorchRuntimeInfo runtime = Models.TorchRuntimeInfo.Current();
        return new System.Text.Json.Nodes.JsonObject
        {
            ["seed"] = seed,
            ["scanThreads"] = ScanThreads,
            ["torchSharp"] = runtime.TorchSharpVersion,
            ["libTorch"] = runtime.LibTorchVersion,
            ["processor"] = Processor(),
            ["cpuCapability"] = Environment.GetEnvironmentVariable("ATEN_CPU_CAPABILITY") is { Length: > 0 } forced ? forced : "auto (libtorch's best for the processor)",
            ["convolutionKernels"] = $"{runtime.ConvolutionKernels.Kernels}: {runtime.ConvolutionKernels.Detail}",
        };
    }

    private static string Processor()
    {
        const string CpuInfo = "/proc/cpuinfo";
        string? name = File.Exists(CpuInfo)
            ? File.ReadLines(CpuInfo).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return name ?? System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    /// <summary>The model's device and dataset size, for summaries.</summary>
    public static string Where(ClassifierEvidence evidence) => $"{evidence.Count} inputs on {evidence.Model.Device.Name}";
}
