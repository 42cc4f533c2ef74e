using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>The input-wide trigger families Neural Cleanse's small mask cannot express.</summary>
internal enum TriggerFamily
{
    /// <summary>An additive pattern over the whole image within an L∞ budget: the shape of a blended trigger.</summary>
    Additive,

    /// <summary>A smooth displacement of the pixels from a 4 × 4 control grid: the shape of a WaNet trigger.</summary>
    Warp,
}

/// <summary>Search settings: Adam steps, the family's budget, the inputs optimised on and tested on.</summary>
internal sealed record UniversalTriggerSettings(TriggerFamily Family, double Budget, int Steps, int FitInputs, int HeldOutInputs, int Seed);

/// <summary>
/// Per target class, the universal perturbation of one family, within its budget, that sends clean inputs of other
/// classes to that class, optimised on some inputs and tested on others. A backdoor whose trigger belongs to the family
/// gives its target a budget-bounded universal perturbation that works on held-out inputs; a clean model's classes are
/// far harder to reach universally at a small budget. Universal perturbations as trojan evidence follow Zhang et al.,
/// Cassandra, arXiv:2007.14433, 2020; the all-classes search and held-out success follow Neural Cleanse (Wang et al.,
/// IEEE S&amp;P 2019) with the mask replaced by the family.
/// </summary>
/// <remarks>
/// All classes are optimised together (one batch: every fit input paired with every class it is not predicted as),
/// with Adam at rate 0.1 on tanh-bounded parameters for a fixed number of steps, from a seeded start; the held-out
/// inputs are another seeded draw. The whole search runs at the scan's fixed intra-op thread count, so a seed gives
/// the same numbers whatever the host's thread setting.
/// </remarks>
internal static class UniversalTriggerInversion
{
    /// <summary>The search's outcome: per class, the share of held-out inputs of other classes sent to it, and how many were tried.</summary>
    internal sealed record Result(double[] Success, int[] Tried, EvidenceFile? Example);

    /// <summary>The parameters every family's probe has after its budget.</summary>
    public static IReadOnlyList<ProbeParameter> SearchParameters { get; } =
    [
        new ProbeParameter("steps", ProbeParameterType.Integer, "Adam steps of the search (all classes at once).", ProbeParameters.Json(30), 1, 1000),
        new ProbeParameter("fitInputs", ProbeParameterType.Integer, "Clean inputs (a seeded draw) the perturbations are optimised on.", ProbeParameters.Json(32), 4, 1024),
        new ProbeParameter("heldOutInputs", ProbeParameterType.Integer, "Other clean inputs (the same draw's next) the perturbations are tested on.", ProbeParameters.Json(128), 8, 4096),
        TrojanProbeParameters.InputBounds,
    ];

    /// <summary>
    /// A family's probe: loads the evidence, searches with the budget named <paramref name="budgetParameter"/>, reads the
    /// statistic and suspected class with <paramref name="read"/> (from the successes and the held-out counts) and words
    /// the finding with <paramref name="summarise"/> (settings, result, statistic, class, threshold, flagged).
    /// </summary>
    public static ProbeOutcome Run(
        ProbeContext context,
        ProbeDescriptor descriptor,
        TriggerFamily family,
        string budgetParameter,
        Func<double[], int[], (double Statistic, int Suspected)> read,
        Func<UniversalTriggerSettings, Result, double, int, double, bool, string> summarise,
        CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        var settings = new UniversalTriggerSettings(family, parameters.Double(budgetParameter), parameters.Int("steps"), parameters.Int("fitInputs"), parameters.Int("heldOutInputs"), context.Seed);
        if (evidence.Inputs.dim() != 4)
        {
            return ProbeOutcome.Inconclusive("The search needs image inputs [N, C, H, W].");
        }

        if (evidence.Count < settings.FitInputs + settings.HeldOutInputs)
        {
            return ProbeOutcome.Inconclusive(string.Create(CultureInfo.InvariantCulture, $"The search needs {settings.FitInputs + settings.HeldOutInputs} clean inputs ({settings.FitInputs} to optimise on, {settings.HeldOutInputs} to test on); the dataset has {evidence.Count}."));
        }

        double threshold = context.Threshold;
        Result result = Search(evidence, settings, context.Progress, cancellationToken, (success, tried) => read(success, tried) is { Statistic: var s, Suspected: var c } && s >= threshold ? c : null);
        (double statistic, int suspected) = read(result.Success, result.Tried);
        double score = statistic / threshold;
        bool flagged = score >= 1;
        return new ProbeOutcome(
            flagged ? Verdict.Fail : Verdict.Pass,
            score,
            summarise(settings, result, statistic, suspected, threshold, flagged),
            Details(result, settings, statistic, suspected, threshold, evidence, context.Seed),
            result.Example is { } example ? [example] : []);
    }

    /// <summary>
    /// Runs the search; with <paramref name="exampleFor"/> set, the evidence is one held-out input of another class before
    /// and after that class's perturbation, side by side.
    /// </summary>
    private static Result Search(ClassifierEvidence evidence, UniversalTriggerSettings settings, IProgress<double> progress, CancellationToken cancellationToken, Func<double[], int[], int?>? exampleFor = null)
    {
        using IntraOpThreads pinned = IntraOpThreads.Pin(TrojanProbeParameters.ScanThreads, torch.get_num_threads());
        using var scope = torch.NewDisposeScope();
        int classes = evidence.Classes;
        long channels = evidence.Inputs.shape[1], height = evidence.Inputs.shape[2], width = evidence.Inputs.shape[3];
        float span = evidence.High - evidence.Low;
        using var generator = new torch.Generator((ulong)settings.Seed + 911);
        Tensor order = torch.randperm(evidence.Count, generator: generator).to(evidence.Device);
        Tensor fitInputs = evidence.Inputs.index_select(0, order[..settings.FitInputs]);
        Tensor heldInputs = evidence.Inputs.index_select(0, order[settings.FitInputs..(settings.FitInputs + settings.HeldOutInputs)]);
        Tensor identity = Identity(height, width, evidence.Device);

        Tensor Apply(Tensor raw, Tensor x, Tensor rowTargets)
        {
            if (settings.Family == TriggerFamily.Additive)
            {
                return x.Add(raw.tanh().index_select(0, rowTargets).Mul((float)(settings.Budget * span))).Clamp(evidence.Low, evidence.High);
            }

            // WaNet's warp field (Nguyen and Tran, ICLR 2021): a k = 4 control grid upsampled bicubically, displacement at
            // most budget / size in grid units (grid_sample's [-1, 1]), kept inside the image.
            Tensor flow = nn.functional.interpolate(raw.tanh(), size: [height, width], mode: InterpolationMode.Bicubic, align_corners: true).permute(0, 2, 3, 1);
            Tensor grid = identity.Add(flow.Mul((float)settings.Budget).Div(Math.Max(height, width))).Clamp(-1, 1);
            return nn.functional.grid_sample(x, grid.index_select(0, rowTargets), align_corners: true);
        }

        using var start = new torch.Generator((ulong)settings.Seed * 31 + (ulong)settings.Family);
        long[] shape = settings.Family == TriggerFamily.Additive ? [classes, channels, height, width] : [classes, 2, 4, 4];
        using var raw = new TorchSharp.Modules.Parameter(torch.randn(shape, generator: start).Mul(0.01).to(evidence.Device), requires_grad: true);
        using var optimizer = new HeldScalarAdam([raw], 0.1);
        Tensor targets = HeldScalars.Arange(classes, device: evidence.Device);
        (Tensor fitRows, Tensor fitTargets) = Rows(evidence.Predict(fitInputs, cancellationToken), targets);
        long batch = Math.Max(1, evidence.RowsPerForward(1024, factor: 3));
        for (int step = 0; step < settings.Steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            optimizer.zero_grad();
            for (long first = 0; first < fitRows.shape[0]; first += batch)
            {
                using var stepScope = torch.NewDisposeScope();
                long size = Math.Min(batch, fitRows.shape[0] - first);
                Tensor rowTargets = fitTargets.narrow(0, first, size);
                Tensor logits = evidence.Model.Forward(Apply(raw, fitInputs.index_select(0, fitRows.narrow(0, first, size)), rowTargets)).flatten(1);
                // Summed over batches and divided by all rows: the same gradient as one batch of every row.
                nn.functional.cross_entropy(logits, rowTargets, reduction: nn.Reduction.Sum).Div(fitRows.shape[0]).backward();
            }

            optimizer.step();
            progress.Report((step + 1) / (settings.Steps + 1.0));
        }

        using var noGrad = torch.no_grad();
        Tensor heldPredicted = evidence.Predict(heldInputs, cancellationToken);
        (Tensor heldRows, Tensor heldTargets) = Rows(heldPredicted, targets);
        Tensor landed = evidence.Batched(
            heldRows.shape[0],
            (first, size) => evidence.Model.Forward(Apply(raw, heldInputs.index_select(0, heldRows.narrow(0, first, size)), heldTargets.narrow(0, first, size))).flatten(1).argmax(1),
            cancellationToken);
        Tensor hits = torch.zeros(classes, device: evidence.Device).IndexAddInPlace(0, heldTargets, landed.eq(heldTargets).to_type(ScalarType.Float32));
        Tensor tried = torch.zeros(classes, device: evidence.Device).IndexAddInPlace(0, heldTargets, torch.ones_like(heldTargets, dtype: ScalarType.Float32));
        double[] success = [.. (hits / tried.ClampMin(1)).cpu().data<float>().Select(v => (double)v)];
        int[] counts = [.. tried.cpu().data<float>().Select(v => (int)v)];
        EvidenceFile? example = exampleFor?.Invoke(success, counts) is int target ? Example(evidence, heldInputs, heldPredicted, target, raw, Apply, settings.Family) : null;
        return new Result(success, counts, example);
    }

    /// <summary>The finding's details common to both families.</summary>
    private static JsonObject Details(Result result, UniversalTriggerSettings settings, double statistic, int suspected, double threshold, ClassifierEvidence evidence, int seed) => new()
    {
        ["statistic"] = statistic,
        ["threshold"] = threshold,
        ["suspectedTargetClass"] = suspected,
        ["family"] = settings.Family.ToString().ToLowerInvariant(),
        ["budget"] = settings.Budget,
        ["success"] = new JsonArray(result.Success.Select(v => (JsonNode)Math.Round(v, 4)).ToArray()),
        ["heldOutInputsTried"] = new JsonArray(result.Tried.Select(v => (JsonNode)v).ToArray()),
        ["steps"] = settings.Steps,
        ["fitInputs"] = settings.FitInputs,
        ["heldOutInputs"] = settings.HeldOutInputs,
        ["inputBounds"] = new JsonArray(evidence.Low, evidence.High),
        ["device"] = evidence.Model.Device.Name,
        ["reproducibility"] = TrojanProbeParameters.Reproducibility(seed),
    };

    /// <summary>The class the search reached most often (the first among ties).</summary>
    public static int Suspected(double[] success) => Array.IndexOf(success, success.Max());

    /// <summary>
    /// How far the most reachable class stands above the typical one, in log-odds: the largest empirical logit
    /// log((k + ½) / (n − k + ½)) (Cox, The Analysis of Binary Data, 1970) of a class's held-out successes, less the
    /// median over classes. A model every class of which is easy to reach universally (a colour model at this budget)
    /// has a high typical class; a model with one shortcut has one class far above it.
    /// </summary>
    public static (double Gap, int Class) LogitGap(double[] success, int[] tried)
    {
        double[] logits = [.. success.Select((p, k) => Math.Log((p * tried[k] + 0.5) / (tried[k] - p * tried[k] + 0.5)))];
        int top = Array.IndexOf(logits, logits.Max());
        return (logits[top] - Audit.Domain.Statistics.SampleStatistics.Median(logits), top);
    }

    /// <summary>Every (input, class) pair whose input the model does not already assign to the class.</summary>
    private static (Tensor Rows, Tensor Targets) Rows(Tensor predicted, Tensor targets)
    {
        long n = predicted.shape[0], k = targets.shape[0];
        Tensor rows = HeldScalars.Arange(n, device: predicted.device).repeat(k);
        Tensor rowTargets = targets.repeat_interleave(n);
        Tensor keep = predicted.index_select(0, rows).ne(rowTargets);
        return (rows.masked_select(keep), rowTargets.masked_select(keep));
    }

    private static Tensor Identity(long height, long width, Device device)
    {
        Tensor[] mesh = torch.meshgrid([torch.linspace(-1, 1, height, device: device), torch.linspace(-1, 1, width, device: device)], indexing: "ij");
        return torch.stack([mesh[1], mesh[0]], 2).unsqueeze(0); // [1, H, W, 2]; grid_sample reads (x, y) = (column, row).
    }

    private static EvidenceFile? Example(ClassifierEvidence evidence, Tensor held, Tensor predicted, int target, Tensor raw, Func<Tensor, Tensor, Tensor, Tensor> apply, TriggerFamily family)
    {
        long channels = held.shape[1], height = held.shape[2], width = held.shape[3];
        long[] others = predicted.Ne(target).nonzero().flatten().cpu().data<long>().ToArray();
        if (others.Length == 0 || channels is not (1 or 3))
        {
            return null;
        }

        Tensor before = held[others[0]].unsqueeze(0);
        Tensor after = apply(raw, before, torch.tensor(new long[] { target }, device: evidence.Device));
        // Side by side, channels interleaved for PNG: [H, 2W, C].
        float[] pixels = [.. torch.cat([before, after], 3)[0].permute(1, 2, 0).contiguous().cpu().data<float>()];
        string what = family == TriggerFamily.Additive ? "added pattern" : "warp";
        return new EvidenceFile(
            string.Create(CultureInfo.InvariantCulture, $"{family.ToString().ToLowerInvariant()}-trigger-class-{target}.png"),
            "image/png",
            $"A held-out input of class {predicted[others[0]].item<long>()} before (left) and after (right) the recovered {what} for class {target}.",
            EvidencePng.Encode(EvidencePng.ToBytes(pixels, evidence.Low, evidence.High), (int)(2 * width), (int)height, (int)channels));
    }
}
