using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Domain.Statistics;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Class inversions in an intermediate representation, after Fu, Zhang, Ji, Wang, Lin, Feng and Yin, "FreeEagle:
/// Detecting Complex Neural Trojans in Data-Free Cases", USENIX Security 2023. The model is cut in two at a hidden
/// representation; for each class c a dummy representation is optimised so that the later part of the network calls
/// it c. A backdoor gives its target class a shortcut in the later layers (features that fire on the trigger and
/// outvote the rest), so the dummies of other classes, and above all the dummy of a source-specific backdoor's source
/// class, leave more probability on the target than on any other class. Entry (c, j) of the matrix is class j's
/// softmax score at class c's dummy (the diagonal left out); the statistic is how far its largest entry stands above
/// the rest, in interquartile ranges: (max − Q3) / (Q3 − Q1). Independent of every other detector: no trigger search,
/// no reference, no candidate, and it reads the clean inputs only to find and scale the cut.
/// </summary>
/// <remarks>
/// Where the cut goes: the latest hidden value that (1) carries everything the output depends on (replacing it with
/// one input's value makes the outputs of two different inputs identical, so no skip connection bypasses it), (2) is
/// non-negative on clean inputs (after a ReLU or pooling, so the dummy is kept non-negative as the paper does), and
/// (3) has a non-affine later part (a hidden layer and a nonlinearity after it; from the penultimate representation
/// the later part is the linear head, where every dummy only restates the head's weights). Without a non-negative cut
/// the latest non-affine cut is used, unbounded. The dummy is optimised in units of the cut's RMS on clean inputs, so
/// the paper's step size and weight decay mean the same at any input scaling. Assumes a feed-forward classifier
/// whose backdoor lives in the layers after the cut; blind to an implant whose shortcut is complete before it, and
/// with ten classes the quartiles rest on 90 entries. Deterministic for a fixed seed (the dummies' start) at the pinned
/// thread count.
/// </remarks>
public sealed class RepresentationInversionProbe : IProbe
{
    /// <summary>The paper's Adam step size, in units of the cut's clean RMS.</summary>
    private const double LearningRate = 0.01;

    /// <summary>The paper's weight decay (an L2 pull of the dummy towards zero, which keeps it from saturating).</summary>
    private const double WeightDecay = 0.005;

    /// <summary>Clean inputs the cut is scaled on.</summary>
    private const int ScaleInputs = 64;

    /// <summary>Relative difference below which two outputs count as equal in the cut and affinity tests.</summary>
    private const double Tolerance = 1e-4;

    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "representation-inversion",
        "Class inversions in a hidden representation (FreeEagle)",
        "Fu, Zhang, Ji, Wang, Lin, Feng and Yin, FreeEagle: Detecting Complex Neural Trojans in Data-Free Cases, USENIX Security 2023",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 6,
        ThresholdMeaning: "How far the largest off-diagonal entry of the class-inversion matrix (class j's softmax score at the dummy representation optimised for class c) stands above the third quartile of all entries, in interquartile ranges; flagged when ≥ threshold.",
        [
            new ProbeParameter("steps", ProbeParameterType.Integer, "Adam steps per dummy representation (the paper's 1000).", ProbeParameters.Json(1000), 10, 10000),
            new ProbeParameter("dummiesPerClass", ProbeParameterType.Integer, "Dummy representations optimised per class from independent random starts; their mean is read (the paper's 1; more lower the variance).", ProbeParameters.Json(4), 1, 64),
            new ProbeParameter("cut", ProbeParameterType.String, "Name of the hidden value where the model is cut; empty: found as described in the method.", ProbeParameters.Json(""), null, null),
            TrojanProbeParameters.InputBounds,
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        using IntraOpThreads pinned = IntraOpThreads.Pin(TrojanProbeParameters.ScanThreads, torch.get_num_threads());
        using var scope = torch.NewDisposeScope();
        var tested = new List<string>();
        Cut? cut = FindCut(evidence, parameters.String("cut"), tested, cancellationToken);
        if (cut is null)
        {
            return ProbeOutcome.Inconclusive(
                "No hidden value cuts the model in two with a nonlinear later part (every value is bypassed by a skip connection, or only the linear head follows it): this probe needs a feed-forward classifier with a hidden layer after the cut. Values tried, from the output back: "
                + string.Join("; ", tested) + ".");
        }

        context.Progress.Report(0.1);
        int classes = evidence.Classes, dummies = parameters.Int("dummiesPerClass"), steps = parameters.Int("steps");
        (double[][] matrix, double[][] logits) = InvertClasses(evidence, cut, classes, dummies, steps, context.Seed, p => context.Progress.Report(0.1 + (0.85 * p)), cancellationToken);
        (double pairIndex, int source, int target) = PairIndex(matrix);
        double[] tendency = Enumerable.Range(0, classes).Select(j => Enumerable.Range(0, classes).Where(c => c != j).Average(c => matrix[c][j])).ToArray();
        (double tendencyIndex, int tendencyClass) = OutlierIndex(tendency);

        double statistic = pairIndex;
        double score = statistic / context.Threshold;
        bool flagged = score >= 1;
        var details = new JsonObject
        {
            ["statistic"] = statistic,
            ["threshold"] = context.Threshold,
            ["pairIndex"] = pairIndex,
            ["suspectedSourceClass"] = source,
            ["suspectedTargetClass"] = target,
            ["targetTendencyIndex"] = tendencyIndex,
            ["targetTendencyClass"] = tendencyClass,
            ["targetTendency"] = new JsonArray(tendency.Select(v => (JsonNode)Math.Round(v, 6)).ToArray()),
            ["matrix"] = new JsonArray(matrix.Select(row => (JsonNode)new JsonArray(row.Select(v => (JsonNode)Math.Round(v, 6)).ToArray())).ToArray()),
            ["logitMatrix"] = new JsonArray(logits.Select(row => (JsonNode)new JsonArray(row.Select(v => (JsonNode)Math.Round(v, 4)).ToArray())).ToArray()),
            ["cut"] = cut.Name,
            ["cutNonNegative"] = cut.NonNegative,
            ["cutScale"] = cut.Scale,
            ["steps"] = steps,
            ["dummiesPerClass"] = dummies,
            ["device"] = evidence.Model.Device.Name,
            ["reproducibility"] = TrojanProbeParameters.Reproducibility(context.Seed),
        };
        string summary = flagged
            ? string.Create(CultureInfo.InvariantCulture, $"A representation optimised to be class {source} leaves class {target} far more probability than any other pair ({pairIndex:F2} interquartile ranges above the third quartile, ≥ {context.Threshold:F2}): the later layers hold a shortcut to class {target}, the shape of a backdoor.")
            : string.Create(CultureInfo.InvariantCulture, $"No class stands out in the class inversions at '{cut.Name}' (largest pair {source} → {target}, {pairIndex:F2} interquartile ranges above the third quartile, < {context.Threshold:F2}).");
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, score, summary, details, []);
    }

    /// <summary>Where the model is cut: the value, whether it is non-negative on clean inputs, and its clean RMS.</summary>
    private sealed record Cut(string Name, bool NonNegative, double Scale, long[] RowShape);

    /// <summary>
    /// The requested cut, or the latest value that passes the tests in the remarks. Two clean inputs of different
    /// predicted classes drive the tests; values are visited from the output backwards.
    /// </summary>
    private static Cut? FindCut(ClassifierEvidence evidence, string requested, List<string> tested, CancellationToken cancellationToken)
    {
        CutRunner run = new(evidence);
        using var noGrad = torch.no_grad();
        Tensor clean = evidence.Inputs[..Math.Min(ScaleInputs, evidence.Count)];
        long[] predicted = evidence.Model.Forward(clean).argmax(1).cpu().data<long>().ToArray();
        int other = Array.FindIndex(predicted, p => p != predicted[0]);
        Tensor pair = torch.cat([clean[..1], clean[(other < 0 ? 1 : other)..((other < 0 ? 1 : other) + 1)]], 0);
        IReadOnlyDictionary<string, Tensor> values = run.Capture(clean, evidence.Model.ValueNames);
        string inputName = evidence.Model.Inputs[0].Name, outputName = evidence.Model.Outputs[0].Name;
        var candidates = evidence.Model.ValueNames
            .Where(n => n != inputName && n != outputName && values.TryGetValue(n, out Tensor? v) && v.dtype == ScalarType.Float32 && v.dim() >= 2 && v.shape[0] == clean.shape[0])
            .Where(n => string.IsNullOrWhiteSpace(requested) || n == requested)
            .ToList();
        if (!string.IsNullOrWhiteSpace(requested) && candidates.Count == 0)
        {
            throw new ArgumentException($"The model has no hidden value named '{requested}' with one row per input.", nameof(requested));
        }

        Cut? unbounded = null;
        for (int i = candidates.Count - 1; i >= 0; i--)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string name = candidates[i];
            Tensor value = values[name];
            Tensor rows = run.Capture(pair, [name])[name];
            bool isCut = run.IsCut(pair, name, rows), nonAffine = isCut && run.IsNonAffine(pair, name, rows);
            tested.Add(string.Create(CultureInfo.InvariantCulture, $"'{name}' {(isCut ? nonAffine ? "cut, nonlinear after" : "cut, affine after" : "bypassed")}"));
            if (!nonAffine)
            {
                continue;
            }

            bool nonNegative = value.min().item<float>() >= 0;
            double scale = Math.Max(value.square().mean().sqrt().item<float>(), 1e-6);
            var cut = new Cut(name, nonNegative, scale, value.shape[1..]);
            if (nonNegative || !string.IsNullOrWhiteSpace(requested))
            {
                return cut;
            }

            unbounded ??= cut;
        }

        return unbounded;
    }

    /// <summary>
    /// The class-inversion matrix: per class, <paramref name="dummies"/> dummies from uniform random starts in [0, 1)
    /// (units of the cut's RMS) optimised together by Adam on their summed cross-entropy to the class, kept
    /// non-negative where the cut is; their mean is fed to the later part and its softmax scores form the class's row,
    /// with the class's own score set to 0; beside them, the scores as logits centred over classes.
    /// </summary>
    private static (double[][] Scores, double[][] Logits) InvertClasses(
        ClassifierEvidence evidence, Cut cut, int classes, int dummies, int steps, int seed, Action<double> progress, CancellationToken cancellationToken)
    {
        var run = new CutRunner(evidence);
        int rows = classes * dummies;
        using var generator = new torch.Generator((ulong)seed + 211);
        Tensor start = torch.rand([rows, .. cut.RowShape], generator: generator).to(evidence.Device);
        var dummy = new TorchSharp.Modules.Parameter(start, requires_grad: true);
        Tensor labels = torch.arange(classes, dtype: ScalarType.Int64, device: evidence.Device).repeat_interleave(dummies);
        Tensor front = evidence.Inputs[..1].expand([rows, .. evidence.Inputs.shape[1..]]).contiguous();
        using var optimizer = torch.optim.Adam([dummy], lr: LearningRate, weight_decay: WeightDecay);
        for (int step = 0; step < steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var stepScope = torch.NewDisposeScope();
            optimizer.zero_grad();
            Tensor logits = run.Through(front, cut.Name, dummy * cut.Scale);
            Tensor loss = torch.nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.Sum);
            loss.backward();
            optimizer.step();
            if (cut.NonNegative)
            {
                using var noGrad = torch.no_grad();
                dummy.clamp_(min: 0);
            }

            if (step % 50 == 0)
            {
                progress((double)step / steps);
            }
        }

        using (torch.no_grad())
        {
            Tensor mean = dummy.detach().reshape([classes, dummies, .. cut.RowShape]).mean([1]);
            Tensor output = run.Through(evidence.Inputs[..1].expand([classes, .. evidence.Inputs.shape[1..]]).contiguous(), cut.Name, mean * cut.Scale);
            float[] flat = output.softmax(1).cpu().data<float>().ToArray();
            float[] centred = (output - output.mean([1], keepdim: true)).cpu().data<float>().ToArray();
            double[][] matrix = new double[classes][], logits = new double[classes][];
            for (int c = 0; c < classes; c++)
            {
                matrix[c] = Enumerable.Range(0, classes).Select(j => j == c ? 0.0 : flat[(c * classes) + j]).ToArray();
                logits[c] = Enumerable.Range(0, classes).Select(j => (double)centred[(c * classes) + j]).ToArray();
            }

            return (matrix, logits);
        }
    }

    /// <summary>(max − Q3) / (Q3 − Q1) over the off-diagonal entries, and the entry's (row, column).</summary>
    internal static (double Index, int Source, int Target) PairIndex(double[][] matrix)
    {
        var entries = new List<(double Value, int Row, int Column)>();
        for (int c = 0; c < matrix.Length; c++)
        {
            for (int j = 0; j < matrix[c].Length; j++)
            {
                if (j != c)
                {
                    entries.Add((matrix[c][j], c, j));
                }
            }
        }

        (double index, int at) = OutlierIndex(entries.Select(e => e.Value).ToArray());
        return (index, entries[at].Row, entries[at].Column);
    }

    /// <summary>
    /// (max − Q3) / (Q3 − Q1) of <paramref name="values"/> (Tukey's fences in units of the interquartile range, as the
    /// paper scores), and where the maximum is. The range is floored at a millionth of the largest value so that a
    /// matrix of equal entries reads 0, not infinity.
    /// </summary>
    internal static (double Index, int At) OutlierIndex(IReadOnlyList<double> values)
    {
        double q1 = SampleStatistics.Quantile(values, 0.25), q3 = SampleStatistics.Quantile(values, 0.75);
        int at = 0;
        for (int i = 1; i < values.Count; i++)
        {
            if (values[i] > values[at])
            {
                at = i;
            }
        }

        double spread = Math.Max(q3 - q1, Math.Max(Math.Abs(values[at]), 1e-12) * 1e-6);
        return ((values[at] - q3) / spread, at);
    }

    /// <summary>Runs the audited graph with one hidden value captured or replaced.</summary>
    private sealed class CutRunner(ClassifierEvidence evidence)
    {
        private readonly string inputName = evidence.Model.Inputs[0].Name;
        private readonly string outputName = evidence.Model.Outputs[0].Name;

        public IReadOnlyDictionary<string, Tensor> Capture(Tensor inputs, IReadOnlyCollection<string> names) =>
            evidence.Model.Run(new Dictionary<string, Tensor> { [inputName] = inputs }, names);

        /// <summary>The model's scores for <paramref name="inputs"/> with <paramref name="name"/> replaced by <paramref name="value"/>.</summary>
        public Tensor Through(Tensor inputs, string name, Tensor value) =>
            evidence.Model.Run(new Dictionary<string, Tensor> { [inputName] = inputs }, replace: new Dictionary<string, Tensor> { [name] = value })[outputName];

        /// <summary>Whether the output depends on the inputs only through <paramref name="name"/>: the same value there gives both inputs the same scores.</summary>
        public bool IsCut(Tensor pair, string name, Tensor rows)
        {
            Tensor same = rows[..1].expand(rows.shape).contiguous();
            Tensor scores = Through(pair, name, same);
            return Close(scores[0], scores[1]);
        }

        /// <summary>Whether the later part is not affine: the scores at the midpoint of two values are not the midpoint of their scores (centred over classes, so a log-softmax output reads as its logits).</summary>
        public bool IsNonAffine(Tensor pair, string name, Tensor rows)
        {
            Tensor middle = (rows[..1] + rows[1..2]) / 2;
            Tensor scores = Centred(Through(torch.cat([pair, pair[..1]], 0), name, torch.cat([rows, middle], 0)));
            return !Close(scores[2], (scores[0] + scores[1]) / 2);
        }

        private static Tensor Centred(Tensor scores) => scores - scores.mean([1], keepdim: true);

        private static bool Close(Tensor a, Tensor b)
        {
            double difference = (a - b).abs().max().item<float>();
            double size = Math.Max(a.abs().max().item<float>(), b.abs().max().item<float>());
            return difference <= Tolerance * Math.Max(size, 1e-6);
        }
    }
}
