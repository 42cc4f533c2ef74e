using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Domain.Statistics;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Adversarial sink test, in the spirit of the data-limited detector of Wang et al., "Practical Detection of Trojan
/// Neural Networks: Data-Limited and Data-Free Cases", ECCV 2020: small untargeted perturbations of clean inputs land
/// disproportionately in a backdoor's target class, because the implant is a short path from every class to it.
/// Independent of Neural Cleanse: no recovered trigger, no candidate gate, no shared trigger scan.
/// </summary>
/// <remarks>
/// Each clean input walks by untargeted gradient ascent on its own predicted class's cross-entropy, in the default
/// <c>l0</c> geometry setting a few input positions per step to a bound (saliency-style, Papernot et al., 2016: a
/// patch trigger is sparse) until <c>epsilon</c> of the positions are set; the class it lands in after the last step is
/// recorded. Flows are grouped by source (clean predicted) class: F[j, k] is the share of class j's moved inputs that
/// land in k. A class's <i>breadth</i> is the median over the other source classes of F[j, k]: a natural neighbour
/// collects from a few sources, an all-to-one target from most of them. Natural sinks exist (on Fashion-MNIST shirt
/// collects from most garments), so the same walks run on a reference distilled from the model on the clean inputs
/// (<see cref="DistilledReference"/>), which inherits the classes' natural sinks and not an implant clean inputs never
/// exercise. Per class, z = (s − median s) / √(SE² + (1.4826 · MAD s)²) with s = log((b + m) / (b_ref + m)),
/// m = <c>minimumBreadth</c>, SE its delta-method sampling error (binomial variance of each breadth at the model's
/// typical moved inputs per source) and the MAD over classes the systematic mismatch between model and reference;
/// the statistic is the largest z and the default threshold 2.576 is the Bonferroni bound for ten classes at a
/// family-wise 5 % under a standard
/// normal null. Assumes an all-to-one (or many-to-one) backdoor and enough clean inputs per class (≥
/// <c>minimumPerSource</c> moved inputs in at least half the classes). Not seen: source-specific backdoors (one source
/// does not widen a breadth), triggers the sparse walk cannot express (input-wide warps, low-amplitude blends may or
/// may not be), and a reference that copies the model badly (its agreement is reported). The z is approximate: the
/// breadths' variance is binomial only roughly (a median over sources), and the reference's architecture differs from
/// the model's, so a natural sink can be stronger on one than the other. Deterministic for a fixed seed: the input
/// sample, the reference and the random start come from seeded generators, and libtorch runs at a fixed intra-op
/// thread count (<see cref="TrojanProbeParameters.ScanThreads"/>) throughout.
/// </remarks>
public sealed class AdversarialSinkProbe : IProbe, IOffersIdleWork
{
    private const double NormalConsistency = 1.4826;

    /// <summary>Most walks per batch (the batch size before the bound on activation bytes).</summary>
    private const int MostWalksPerBatch = 256;

    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "adversarial-sink",
        "Adversarial sink class (untargeted perturbation flows)",
        "Wang et al., Practical Detection of Trojan Neural Networks: Data-Limited and Data-Free Cases, ECCV 2020; untargeted PGD: Madry et al., ICLR 2018",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 2.576,
        ThresholdMeaning: "Largest z over classes of the log ratio between a class's breadth (the median share, over the other source classes, of small untargeted perturbations that land in it) on the model and on a reference distilled from it, over its standard error; flagged when ≥ threshold (default: the Bonferroni bound for ten classes at a family-wise 5 %).",
        [
            new ProbeParameter("probeInputs", ProbeParameterType.Integer, "Clean inputs perturbed (a seeded sample of the dataset).", ProbeParameters.Json(1000), 20, 10000),
            new ProbeParameter("steps", ProbeParameterType.Integer, "Projected-gradient steps of each walk.", ProbeParameters.Json(20), 1, 500),
            new ProbeParameter("epsilon", ProbeParameterType.Number, "Budget of a walk: for 'l0' the share of input positions (pixels) it may set to a bound; for 'linf' and 'l2' the radius of the ball, as a fraction of the valid input range.", ProbeParameters.Json(0.05), 0.001, 1),
            new ProbeParameter("norm", ProbeParameterType.String, "Geometry of the walk: 'l0' (a few positions per step set to a bound, as a patch trigger would), 'linf' (signed gradient steps in an L∞ ball) or 'l2' (normalised gradient steps in an L2 ball of the same RMS change).", ProbeParameters.Json("l0"), AllowedValues: ["linf", "l2", "l0"]),
            new ProbeParameter("landing", ProbeParameterType.String, "Which class a walk lands in: 'final' (its class after every step: the deepest basin the walk reaches) or 'first' (the first class it crosses into: the nearest boundary).", ProbeParameters.Json("final"), AllowedValues: ["final", "first"]),
            new ProbeParameter("minimumPerSource", ProbeParameterType.Integer, "Fewest flipped inputs a source class needs to count in a breadth.", ProbeParameters.Json(5), 1, 1000),
            new ProbeParameter("referenceCalibration", ProbeParameterType.Boolean, "Subtract each class's breadth on a reference distilled from the model on the clean inputs (natural sinks are the classes', an implant is not distilled). false: the raw breadths.", ProbeParameters.Json(true)),
            TrojanProbeParameters.ReferenceSteps,
            new ProbeParameter("minimumBreadth", ProbeParameterType.Number, "Smallest breadth that counts: both breadths are raised by it before their ratio is taken (below it a median over ten sources is one or two inputs).", ProbeParameters.Json(0.1), 0.001, 0.5),
            TrojanProbeParameters.InputBounds,
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => TaskCheck.Guard(context, Descriptor, () => Run(context, cancellationToken), cancellationToken), cancellationToken);

    /// <summary>
    /// Offers the walks as idle work, one batch per step, exactly as this probe would walk them (same inputs, start and
    /// thread count): those on the audited model to the trojan scan's audited-model lane, which waits while the other
    /// lane distils the reference; those on the session's distilled reference, once it exists, to whichever scan lane
    /// finishes its share first. The probe walks whatever is left.
    /// </summary>
    void IOffersIdleWork.OfferIdleWork(ProbeContext context) =>
        context.Session.Idle.Offer((model, cancellationToken) => EarlyWalk(context, model, cancellationToken));

    private bool EarlyWalk(ProbeContext context, Sessions.IdleModel model, CancellationToken cancellationToken)
    {
        try
        {
            var parameters = new ProbeParameters(context, Descriptor);
            string norm = parameters.String("norm");
            if (norm is not ("linf" or "l2" or "l0"))
            {
                return false;
            }

            using IntraOpThreads pinned = IntraOpThreads.Pin(TrojanProbeParameters.ScanThreads, torch.get_num_threads());
            if (model == Sessions.IdleModel.Audited)
            {
                ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
                return WalkPlan.For(context, evidence, parameters).StepAudited(evidence, cancellationToken);
            }

            // On the reference, another lane may be computing on the audited model: nothing here may run it. Loading
            // the evidence or planning the walks can (a class count the model does not declare, the activations'
            // size), so only a plan an audited-model step already made is used, with the evidence it was made from;
            // and only a reference some probe already distilled (an idle step never trains one).
            ReferenceSettings? settings = ReferenceOf(parameters, context);
            return settings is not null
                && WalkPlan.Existing(context, parameters) is { } plan
                && context.Session.TryGetComputed(DistilledReference.Key(plan.Evidence, settings), out DistilledReference? reference)
                && plan.StepReference(plan.Evidence.WithModel(reference, ReferenceModelKey(settings)), cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // Early work is optional: whatever fails here, the probe meets again when it runs and reports.
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    }

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        string norm = parameters.String("norm");
        if (norm is not ("linf" or "l2" or "l0"))
        {
            throw new ArgumentException("norm must be 'linf', 'l2' or 'l0'.", nameof(context));
        }

        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        int count = Math.Min(parameters.Int("probeInputs"), evidence.Count);
        int steps = parameters.Int("steps");
        double epsilon = parameters.Double("epsilon");
        int minimum = parameters.Int("minimumPerSource");

        // Same numbers whatever thread count the audit runs libtorch with (see IntraOpThreads).
        int hostThreads = torch.get_num_threads();
        using IntraOpThreads pinned = IntraOpThreads.Pin(TrojanProbeParameters.ScanThreads, hostThreads);
        using var scope = torch.NewDisposeScope();
        // The inputs, their random starts and the audited walk's batches, some perhaps walked early by another probe's
        // idle lane (IOffersIdleWork).
        WalkPlan plan = WalkPlan.For(context, evidence, parameters);
        WalkBatches auditedWork = plan.Claim(evidence);
        ReferenceSettings? settings = ReferenceOf(parameters, context);
        (Walk walk, Walk? referenceWalk, double? agreement) = Walks(evidence, settings, plan, auditedWork, epsilon, steps, hostThreads, context.Progress, cancellationToken);
        try
        {
            return Assess(context, parameters, evidence, walk, referenceWalk, agreement, count, steps, epsilon, norm, minimum);
        }
        finally
        {
            walk.Delta.Dispose();
            referenceWalk?.Delta.Dispose();
        }
    }

    /// <summary>The reference the walks are compared with (the session's distilled one), or null without calibration.</summary>
    private static ReferenceSettings? ReferenceOf(ProbeParameters parameters, ProbeContext context) =>
        parameters.Bool("referenceCalibration")
            ? TrojanProbeParameters.Reference(parameters, context.Seed)
            : null;

    private static string ReferenceModelKey(ReferenceSettings settings) => $"sink-reference|{settings}";

    /// <summary>
    /// The walks on the audited model and, with <paramref name="settings"/>, on the session's distilled reference, in two
    /// one-thread lanes: one walks on the audited model and then takes the reference's remaining batches from the back,
    /// the other walks on the reference from the front (every batch is computed exactly as it would be alone); then the
    /// reference's agreement with the model. The walks' perturbation tensors belong to the caller.
    /// </summary>
    private static (Walk Audited, Walk? Reference, double? Agreement) Walks(
        ClassifierEvidence evidence,
        ReferenceSettings? settings,
        WalkPlan plan,
        WalkBatches auditedWork,
        double epsilon,
        int steps,
        int hostThreads,
        IProgress<double> progress,
        CancellationToken cancellationToken)
    {
        WalkInputs inputs = plan.Inputs;
        string norm = plan.Norm;
        bool final = plan.Final;
        double auditedShare = 0, referenceShare = 0;
        void Report() => progress.Report(settings is null ? Volatile.Read(ref auditedShare) : 0.5 * (Volatile.Read(ref auditedShare) + Volatile.Read(ref referenceShare)));
        var auditedProgress = new Progress<double>(p => { Volatile.Write(ref auditedShare, p); Report(); });
        var referenceProgress = new Progress<double>(p => { Volatile.Write(ref referenceShare, p); Report(); });
        if (settings is null)
        {
            try
            {
                using IDisposable? stage = evidence.Timings?.Stage("sink.walk.audited");
                Perturb(evidence, auditedWork, w => w.TakeFront(), inputs, norm, epsilon, steps, final, auditedProgress, cancellationToken);
                FinishEarlyBatches(evidence, auditedWork, inputs, norm, epsilon, steps, final, auditedProgress, cancellationToken);
                return (auditedWork.Collect(), null, null);
            }
            catch
            {
                auditedWork.Release();
                throw;
            }
        }

        // The teacher's targets come before the lanes, so the reference lane never calls the audited model while the
        // other lane walks on it; they are needed only when no probe of this audit distilled the reference yet.
        Tensor? targets = null;
        if (!evidence.Session.Contains(DistilledReference.Key(evidence, settings)))
        {
            using IDisposable? stage = evidence.Timings?.Stage("sink.teacher-targets");
            targets = DistilledReference.TeacherTargets(evidence, settings, cancellationToken);
        }

        using Tensor? ownedTargets = targets;
        var trained = new TaskCompletionSource<(ClassifierEvidence Evidence, WalkBatches Work)>(TaskCreationOptions.RunContinuationsAsynchronously);
        DistilledReference? reference = null;
        ClassifierEvidence? referenceEvidence = null;
        WalkBatches? referenceWork = null;
        try
        {
            Lanes.Both(
                TrojanProbeParameters.ScanThreads,
                hostThreads,
                () =>
                {
                    using (evidence.Timings?.Stage("sink.walk.audited"))
                    {
                        Perturb(evidence, auditedWork, w => w.TakeFront(), inputs, norm, epsilon, steps, final, auditedProgress, cancellationToken);
                    }

                    (ClassifierEvidence model, WalkBatches work) = trained.Task.GetAwaiter().GetResult();
                    using IDisposable? stage = evidence.Timings?.Stage("sink.walk.reference");
                    Perturb(model, work, w => w.TakeBack(), inputs, norm, epsilon, steps, final, referenceProgress, cancellationToken);
                },
                () =>
                {
                    try
                    {
                        using (evidence.Timings?.Stage("sink.reference.distil"))
                        {
                            reference = DistilledReference.Shared(evidence, settings, () => targets ?? throw new InvalidOperationException("The session's reference is gone while the probe runs."), cancellationToken);
                        }

                        referenceEvidence = evidence.WithModel(reference, ReferenceModelKey(settings));
                        // Some batches may have been walked early by a lane of the trojan scan (IOffersIdleWork).
                        referenceWork = plan.ClaimReference(referenceEvidence);
                        trained.SetResult((referenceEvidence, referenceWork));
                    }
                    catch (Exception error)
                    {
                        trained.TrySetException(error);
                        throw;
                    }

                    using IDisposable? stage = evidence.Timings?.Stage("sink.walk.reference");
                    Perturb(referenceEvidence, referenceWork, w => w.TakeFront(), inputs, norm, epsilon, steps, final, referenceProgress, cancellationToken);
                },
                cancellationToken);
            FinishEarlyBatches(evidence, auditedWork, inputs, norm, epsilon, steps, final, auditedProgress, cancellationToken);
            FinishEarlyBatches(referenceEvidence!, referenceWork!, inputs, norm, epsilon, steps, final, referenceProgress, cancellationToken);
            double agreement;
            using (evidence.Timings?.Stage("sink.agreement"))
            {
                agreement = reference!.Agreement(evidence, cancellationToken);
            }

            Walk audited = auditedWork.Collect();
            return (audited, referenceWork!.Collect(), agreement);
        }
        catch
        {
            auditedWork.Release();
            referenceWork?.Release();
            throw;
        }
        finally
        {
            referenceEvidence?.Dispose();
        }
    }

    private static ProbeOutcome Assess(
        ProbeContext context,
        ProbeParameters parameters,
        ClassifierEvidence evidence,
        Walk walk,
        Walk? referenceWalk,
        double? agreement,
        int count,
        int steps,
        double epsilon,
        string norm,
        int minimum)
    {
        int classes = evidence.Classes;
        Sinks audited = Sinks.Of(walk, classes, minimum);
        if (audited.Counted < Math.Max(3, (classes + 1) / 2))
        {
            return ProbeOutcome.Inconclusive(string.Create(CultureInfo.InvariantCulture,
                $"Only {audited.Counted} of {classes} classes had at least {minimum} inputs that a perturbation ({norm}, budget {epsilon:P0}) moved to another class; the adversarial sink test needs most classes (give more inputs, or a larger epsilon)."));
        }

        // Natural sinks (on Fashion-MNIST, shirt collects perturbations from most garments) are a property of the
        // classes; a reference distilled from the model on clean inputs inherits them and not an implant, which clean
        // inputs never exercise. The same walks on the reference give each class's natural breadth.
        Sinks? natural = referenceWalk is null ? null : Sinks.Of(referenceWalk, classes, minimum);

        double[] breadth = audited.Breadth;
        double floor = parameters.Double("minimumBreadth");
        double[] z, excess;
        double median = 0, mad = 0;
        if (natural is not null)
        {
            // Per class, a test of "no more of a sink on the model than on its reference, beyond the classes' usual
            // mismatch": the log ratio of the breadths (each raised by minimumBreadth: below it a median over ten
            // sources is one or two inputs), centred on the classes' median ratio, over the root of two variances in
            // quadrature — its delta-method sampling variance (each breadth binomial at the model's typical moved
            // inputs per source) and the classes' systematic spread (1.4826 · MAD of the ratios: the reference is
            // another architecture, so natural sinks come out stronger on one or the other, on every class a little).
            // Under that null each z is about standard normal: the default threshold is the Bonferroni bound for ten
            // classes at a family-wise 5 %.
            double nAudited = audited.TypicalSource, nReference = natural.TypicalSource;
            excess = breadth.Zip(natural.Breadth, (a, r) => Math.Log((a + floor) / (r + floor))).ToArray();
            median = SampleStatistics.Median(excess);
            mad = SampleStatistics.MedianAbsoluteDeviation(excess);
            double systematic = NormalConsistency * mad;
            double centre = median;
            z = Enumerable.Range(0, classes).Select(k =>
            {
                double a = breadth[k], r = natural.Breadth[k];
                double variance = Binomial(a, nAudited) / Math.Pow(a + floor, 2) + Binomial(r, nReference) / Math.Pow(r + floor, 2);
                return Math.Max(0, (excess[k] - centre) / Math.Sqrt(variance + systematic * systematic));
            }).ToArray();
        }
        else
        {
            // Uncalibrated: the breadths' robust z over classes, never dividing by less than the sampling noise.
            excess = breadth;
            median = SampleStatistics.Median(breadth);
            mad = SampleStatistics.MedianAbsoluteDeviation(breadth);
            double p = Math.Clamp(Math.Max(median, 1 / audited.TypicalSource), 0, 0.5);
            double scale = Math.Max(NormalConsistency * mad, Math.Sqrt(p * (1 - p) / audited.TypicalSource));
            z = breadth.Select(b => b > median ? (b - median) / scale : 0).ToArray();
        }

        double[] share = audited.Share;
        int[] topOf = audited.TopOf;
        int[,] flows = audited.Flows;
        int counted = audited.Counted;
        int suspected = Enumerable.Range(0, classes).MaxBy(k => (z[k], excess[k]));
        double statistic = z[suspected];
        double score = statistic / context.Threshold;
        bool flagged = score >= 1;
        double flipRate = walk.Landing.Count(l => l >= 0) / (double)count;

        var flowRows = new JsonArray();
        for (int j = 0; j < classes; j++)
        {
            flowRows.Add(new JsonArray(Enumerable.Range(0, classes).Select(k => (JsonNode)flows[j, k]).ToArray()));
        }

        var details = new JsonObject
        {
            ["statistic"] = statistic,
            ["threshold"] = context.Threshold,
            ["suspectedTargetClass"] = suspected,
            ["sinkIndex"] = statistic,
            ["sinkBreadth"] = breadth[suspected],
            ["sinkShare"] = share[suspected],
            ["breadths"] = Rounded(breadth),
            ["shares"] = Rounded(share),
            ["robustZ"] = Rounded(z),
            ["topDestinationOf"] = new JsonArray(topOf.Select(t => (JsonNode)t).ToArray()),
            ["referenceBreadths"] = natural is null ? null : Rounded(natural.Breadth),
            ["excessBreadths"] = Rounded(excess),
            ["referenceAgreement"] = agreement,
            ["medianBreadth"] = SampleStatistics.Median(breadth),
            ["medianExcess"] = median,
            ["excessMad"] = mad,
            ["typicalFlippedPerSource"] = audited.TypicalSource,
            ["flows"] = flowRows,
            ["flipRate"] = flipRate,
            ["countedSources"] = counted,
            ["probeInputs"] = count,
            ["steps"] = steps,
            ["epsilon"] = epsilon,
            ["norm"] = norm,
            ["inputBounds"] = new JsonArray(evidence.Low, evidence.High),
            ["reproducibility"] = TrojanProbeParameters.Reproducibility(context.Seed),
            ["device"] = evidence.Model.Device.Name,
        };
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"Small untargeted perturbations ({(norm == "l0" ? $"at most {epsilon:P0} of the input positions" : $"{epsilon:P0} of the input range")}, {steps} steps; {flipRate:P0} of {count} inputs changed class) land in class {suspected} from a median {breadth[suspected]:P0} of the other classes' inputs ({(natural is null ? "uncalibrated" : $"{natural.Breadth[suspected]:P0} on a reference distilled from the model on clean inputs")}; z {statistic:F2} {(flagged ? "≥" : "<")} {context.Threshold}): ")
            + (!flagged ? "no class is an abnormal sink."
                : natural is null ? "an adversarial sink reached from most classes, as a backdoor's target is (uncalibrated: a natural sink looks the same)."
                : "an adversarial sink reached from most classes, beyond what the classes' natural similarity explains, as a backdoor's target is.");
        IReadOnlyList<EvidenceFile> images = flagged ? Image(walk, suspected, evidence) : [];
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, score, summary, details, images);
    }

    private sealed record Walk(int[] Source, int[] Landing, Tensor Delta);

    /// <summary>Flows of one model's walks: source (clean prediction) → class of the first crossing, and each class's breadth.</summary>
    private sealed record Sinks(int[,] Flows, int[] Flipped, double[] Breadth, double[] Share, int[] TopOf, int Counted, int Minimum)
    {
        /// <summary>Median flipped inputs over the source classes that count (the n of a breadth's binomial variance).</summary>
        public double TypicalSource => Math.Max(1, SampleStatistics.Median(Flipped.Where(f => f >= Minimum).Select(f => (double)f).DefaultIfEmpty(1)));

        public static Sinks Of(Walk walk, int classes, int minimum)
        {
            int[,] flows = new int[classes, classes];
            int[] flipped = new int[classes];
            for (int i = 0; i < walk.Source.Length; i++)
            {
                if (walk.Landing[i] >= 0)
                {
                    flows[walk.Source[i], walk.Landing[i]]++;
                    flipped[walk.Source[i]]++;
                }
            }

            double[] breadth = new double[classes], share = new double[classes];
            int[] topOf = new int[classes];
            for (int j = 0; j < classes; j++)
            {
                if (flipped[j] >= minimum)
                {
                    topOf[Enumerable.Range(0, classes).Where(k => k != j).MaxBy(k => flows[j, k])]++;
                }
            }

            for (int k = 0; k < classes; k++)
            {
                double[] fromOthers = Enumerable.Range(0, classes)
                    .Where(j => j != k && flipped[j] >= minimum)
                    .Select(j => flows[j, k] / (double)flipped[j])
                    .ToArray();
                breadth[k] = fromOthers.Length == 0 ? 0 : SampleStatistics.Median(fromOthers);
                int into = Enumerable.Range(0, classes).Where(j => j != k).Sum(j => flows[j, k]);
                int total = Enumerable.Range(0, classes).Where(j => j != k).Sum(j => flipped[j]);
                share[k] = total == 0 ? 0 : into / (double)total;
            }

            return new Sinks(flows, flipped, breadth, share, topOf, Enumerable.Range(0, classes).Count(j => flipped[j] >= minimum), minimum);
        }
    }

    /// <summary>
    /// Untargeted projected-gradient walks from every input; each stops at its first change of class. Returns the
    /// clean prediction, the class first crossed into (−1: none within the steps) and the perturbation at that point.
    /// </summary>
    /// <summary>
    /// Runs the batches of <paramref name="work"/> that <paramref name="take"/> hands out (several lanes may share one
    /// <see cref="WalkBatches"/>; each batch is computed exactly as in a single pass over all of them).
    /// </summary>
    private static void Perturb(ClassifierEvidence evidence, WalkBatches work, Func<WalkBatches, int?> take, WalkInputs inputs, string norm, double epsilon, int steps, bool final, IProgress<double> progress, CancellationToken cancellationToken)
    {
        long Batch = work.Batch;
        long n = inputs.Count;
        float span = evidence.High - evidence.Low;
        double radius = epsilon * span;
        double dimensions = inputs.RowShape.Aggregate(1L, (a, b) => a * b);
        // L∞: 2.5 ε / steps per signed step (Madry et al.'s rule of thumb); L2: the same RMS change per coordinate.
        double stepSize = 2.5 * radius / steps;
        int[] source = work.Source, landing = work.Landing;
        while (take(work) is int batch)
        {
            try
            {
                PerturbBatch(batch);
            }
            catch
            {
                // Another lane (or the probe itself, later) walks it again from the start.
                work.Returned(batch);
                throw;
            }

            work.Finished();
            progress.Report(work.Done());
            work.Trimmer.TrimWhenGrown();
        }

        void PerturbBatch(int batch)
        {
            using var batchScope = torch.NewDisposeScope();
            long first = batch * Batch;
            long size = Math.Min(Batch, n - first);
            Tensor x0 = inputs.Rows(first, size);
            Tensor y0;
            using (torch.no_grad())
            {
                y0 = evidence.Model.Forward(x0).argmax(1);
            }

            // A small seeded random start (a tenth of the ball) so saturated inputs with zero gradient still move.
            Tensor delta = norm == "l0" ? torch.zeros_like(x0) : inputs.Starts(first, size).Mul(2).Sub(1).Mul(0.1 * radius);
            // L0: which positions (pixels, shared by channels; features for vectors) the walk has set to a bound.
            long[] positionShape = x0.dim() == 4 ? [size, 1, x0.shape[2], x0.shape[3]] : x0.shape;
            Tensor changed = torch.zeros(positionShape, ScalarType.Bool, device: x0.device);
            long positions = positionShape[1..].Aggregate(1L, (a, b) => a * b);
            int perStep = (int)Math.Max(1, Math.Ceiling(epsilon * positions / steps));
            Tensor done = torch.zeros(size, ScalarType.Bool, device: x0.device);
            Tensor landed = HeldScalars.Full([size], -1L, ScalarType.Int64, x0.device);
            Tensor atLanding = torch.zeros_like(x0);
            for (int step = 0; step <= steps; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var stepScope = torch.NewDisposeScope();
                Tensor leaf = delta.detach().requires_grad_(true);
                Tensor x = x0.Add(leaf).Clamp(evidence.Low, evidence.High);
                Tensor logits = evidence.Model.Forward(x);
                // A first landing is recorded when it happens (the walk then stops); a final one after the last step.
                if (!final || step == steps)
                {
                    using var noGrad = torch.no_grad();
                    Tensor predicted = logits.argmax(1);
                    Tensor fresh = predicted.ne(y0).logical_and(done.logical_not());
                    landed.masked_scatter_(fresh, predicted.masked_select(fresh));
                    Tensor freshRows = fresh.view([size, .. Enumerable.Repeat(1L, (int)x0.dim() - 1)]);
                    atLanding.copy_(torch.where(freshRows, x.detach() - x0, atLanding));
                    done.logical_or_(fresh);
                }

                if (step == steps || done.all().item<bool>())
                {
                    break;
                }

                Tensor active = done.logical_not().to_type(logits.dtype);
                Tensor loss = (nn.functional.cross_entropy(logits, y0, reduction: nn.Reduction.None) * active).sum();
                loss.backward();
                using (torch.no_grad())
                {
                    Tensor gradient = leaf.grad!;
                    Tensor move;
                    if (norm is "linf" or "l0")
                    {
                        move = gradient.sign().Mul(stepSize);
                    }
                    else
                    {
                        Tensor length = gradient.flatten(1).norm(1, true).ClampMin(1e-12).view([size, .. Enumerable.Repeat(1L, (int)x0.dim() - 1)]);
                        move = (gradient / length).Mul(stepSize * Math.Sqrt(dimensions));
                    }

                    Tensor frozen = done.view([size, .. Enumerable.Repeat(1L, (int)x0.dim() - 1)]);
                    Tensor next;
                    if (norm == "l0")
                    {
                        // Saliency-style sparse step (Papernot et al., 2016): set the few positions whose move to the
                        // bound the gradient favours most raises the loss most, as a patch trigger would.
                        Tensor current = x0.Add(delta).Clamp(evidence.Low, evidence.High);
                        Tensor bound = torch.where(gradient.Gt(0), evidence.High, evidence.Low);
                        Tensor gain = gradient * (bound - current);
                        gain = x0.dim() == 4 ? gain.sum([1L], keepdim: true) : gain;
                        gain = gain.MaskedFill(changed, double.NegativeInfinity).flatten(1);
                        Tensor pick = torch.zeros_like(gain, dtype: ScalarType.Bool).scatter_(1, gain.topk(perStep).indexes, torch.ones_like(gain, dtype: ScalarType.Bool)).view(positionShape);
                        pick = pick.logical_and(frozen.view([size, .. Enumerable.Repeat(1L, positionShape.Length - 1)]).logical_not());
                        changed.logical_or_(pick);
                        next = torch.where(pick, bound - x0, delta);
                    }
                    else
                    {
                        next = torch.where(frozen, delta, delta.Add(move));
                        next = norm == "linf" ? next.Clamp(-radius, radius) : ProjectL2(next, radius * Math.Sqrt(dimensions));
                    }
                    delta.Dispose();
                    delta = next.MoveToOuterDisposeScope();
                }
            }

            long[] y = y0.cpu().data<long>().ToArray();
            long[] l = landed.cpu().data<long>().ToArray();
            for (int i = 0; i < size; i++)
            {
                source[first + i] = (int)y[i];
                landing[first + i] = (int)l[i];
            }

            work.Deltas[batch] = atLanding.detach().DetachFromDisposeScope();
        }
    }

    /// <summary>
    /// Waits for batches another probe's idle lane is still walking, then walks any such batch that failed there, so
    /// every batch is done before the walk is collected.
    /// </summary>
    private static void FinishEarlyBatches(ClassifierEvidence evidence, WalkBatches work, WalkInputs inputs, string norm, double epsilon, int steps, bool final, IProgress<double> progress, CancellationToken cancellationToken)
    {
        work.WaitForBatchesInFlight(cancellationToken);
        Perturb(evidence, work, w => w.TakeFront(), inputs, norm, epsilon, steps, final, progress, cancellationToken);
    }

    /// <summary>
    /// The batches of one model's walks over <c>n</c> inputs, handed out from the front or the back, so two lanes can share
    /// them (the lane that finishes its own work first takes the remaining batches from the other end); results land at
    /// their batch's place.
    /// </summary>
    private sealed class WalkBatches
    {
        private readonly object _gate = new();
        private readonly Queue<int> _returned = new();
        private int _front;
        private int _back;
        private int _done;
        private int _inFlight;

        private WalkBatches(long n, long batch)
        {
            Batch = batch;
            int count = (int)((n + batch - 1) / batch);
            _back = count;
            Deltas = new Tensor?[count];
            Source = new int[n];
            Landing = new int[n];
        }

        public long Batch { get; }

        /// <summary>Trims the native heap between batches, for every lane that walks these batches (see <see cref="HeapTrimmer"/>).</summary>
        public HeapTrimmer Trimmer { get; } = new();

        public Tensor?[] Deltas { get; }

        public int[] Source { get; }

        public int[] Landing { get; }

        /// <summary>
        /// At most 256 walks per batch, fewer where their activations, gradients and the walks' own per-input tensors
        /// (about ten copies of the input) would exceed the forward budget: 4× the activations, since two lanes walk at
        /// once (at 3×64×64, 256 walks held about 0.45 GB; at 3× the activations the two lanes still took the service
        /// to 964 MiB). Each walk is its own (its own loss term, gradient and landing), so the batch size changes how
        /// many run at once, not where they go; at 1×28×28 the examples keep 256.
        /// </summary>
        public static WalkBatches For(ClassifierEvidence evidence, long n) => new(n, evidence.RowsPerForward(MostWalksPerBatch, factor: 4));

        public int? TakeFront()
        {
            lock (_gate)
            {
                return Taken(_returned.Count > 0 ? _returned.Dequeue() : _front < _back ? _front++ : null);
            }
        }

        public int? TakeBack()
        {
            lock (_gate)
            {
                return Taken(_returned.Count > 0 ? _returned.Dequeue() : _front < _back ? --_back : null);
            }
        }

        /// <summary>A taken batch has its perturbations in <see cref="Deltas"/>.</summary>
        public void Finished()
        {
            lock (_gate)
            {
                _inFlight--;
                Monitor.PulseAll(_gate);
            }
        }

        /// <summary>A taken batch failed; it is handed out again.</summary>
        public void Returned(int batch)
        {
            lock (_gate)
            {
                _inFlight--;
                _returned.Enqueue(batch);
                Monitor.PulseAll(_gate);
            }
        }

        /// <summary>Waits until no taken batch is still being walked (by a lane of another probe, see IOffersIdleWork).</summary>
        public void WaitForBatchesInFlight(CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                while (_inFlight > 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    Monitor.Wait(_gate, TimeSpan.FromMilliseconds(100));
                }
            }
        }

        private int? Taken(int? batch)
        {
            if (batch is not null)
            {
                _inFlight++;
            }

            return batch;
        }

        /// <summary>Counts a finished batch; the share of batches done.</summary>
        public double Done() => (double)Interlocked.Increment(ref _done) / Deltas.Length;

        /// <summary>The whole walk (its perturbation tensor belongs to the caller); every batch must be done.</summary>
        public Walk Collect()
        {
            Tensor[] parts = [.. Deltas.Select(d => d ?? throw new InvalidOperationException("A walk batch was not run."))];
            Tensor delta = torch.cat(parts, 0).DetachFromDisposeScope();
            foreach (Tensor part in parts)
            {
                part.Dispose();
            }

            Array.Clear(Deltas);

            return new Walk(Source, Landing, delta);
        }

        /// <summary>Releases the batches' tensors after a failure.</summary>
        public void Release()
        {
            foreach (Tensor? part in Deltas)
            {
                part?.Dispose();
            }

            Array.Clear(Deltas);
        }
    }

    /// <summary>
    /// The walks' seeded inputs and random starts, and the audited model's walk batches, kept in the audit's session so
    /// that a lane of an earlier probe can walk some batches while it waits (<see cref="IOffersIdleWork"/>). The probe's
    /// own run claims the batches; a second run with the same settings gets its own.
    /// </summary>
    private sealed class WalkPlan : IDisposable
    {
        private readonly Lock _gate = new();
        private bool _claimed;
        private bool _referenceClaimed;
        private WalkBatches? _reference;

        private WalkPlan(ClassifierEvidence evidence, WalkInputs inputs, WalkBatches audited, string norm, double epsilon, int steps, bool final)
        {
            Evidence = evidence;
            Inputs = inputs;
            Audited = audited;
            Norm = norm;
            Epsilon = epsilon;
            Steps = steps;
            Final = final;
        }

        /// <summary>The audited model's evidence the plan was made from (its inputs and bounds are the walks').</summary>
        public ClassifierEvidence Evidence { get; }

        public WalkInputs Inputs { get; }

        public string Norm { get; }

        public bool Final { get; }

        private WalkBatches Audited { get; }

        private double Epsilon { get; }

        private int Steps { get; }

        /// <summary>The session's plan for these settings (the inputs a seeded sample, as the probe has always drawn them).</summary>
        public static WalkPlan For(ProbeContext context, ClassifierEvidence evidence, ProbeParameters parameters)
        {
            int count = Math.Min(parameters.Int("probeInputs"), evidence.Count);
            string norm = parameters.String("norm");
            double epsilon = parameters.Double("epsilon");
            int steps = parameters.Int("steps");
            bool final = parameters.String("landing") == "final";
            return context.Session.GetOrCreate(Key(context, parameters), () =>
            {
                using var scope = torch.NewDisposeScope();
                using var generator = new torch.Generator((ulong)context.Seed + 404);
                Tensor chosen = torch.randperm(evidence.Count, generator: generator)[..count].to(evidence.Device);
                // The random starts are drawn after the sample, from the same generator; an l0 walk starts at zero and
                // never reads them, so they are not drawn (or held) for it.
                Tensor? start = norm == "l0" ? null : torch.rand([count, .. evidence.Inputs.shape[1..]], generator: generator).to(evidence.Device).DetachFromDisposeScope();
                return new WalkPlan(evidence, new WalkInputs(evidence.Inputs, chosen.DetachFromDisposeScope(), start), WalkBatches.For(evidence, count), norm, epsilon, steps, final);
            });
        }

        /// <summary>The session's plan for these settings if one was made already; never makes one.</summary>
        public static WalkPlan? Existing(ProbeContext context, ProbeParameters parameters) =>
            context.Session.TryGetComputed(Key(context, parameters), out WalkPlan? plan) ? plan : null;

        /// <summary>
        /// Names a plan by the probe's settings: a session holds one model and one dataset, so these decide the sample,
        /// the starts, the bounds (given or read from the dataset) and the batches.
        /// </summary>
        private static string Key(ProbeContext context, ProbeParameters parameters) => string.Create(
            CultureInfo.InvariantCulture,
            $"adversarial-sink.walk|{context.Seed}|{parameters.Int("probeInputs")}|{parameters.String("norm")}|{parameters.Double("epsilon"):R}|{parameters.Int("steps")}|{parameters.String("landing")}|{string.Join(',', parameters.Numbers("inputBounds").Select(b => b.ToString("R", CultureInfo.InvariantCulture)))}");

        /// <summary>Walks one batch of the audited model's walks early; false when none is left or the probe has claimed them.</summary>
        public bool StepAudited(ClassifierEvidence evidence, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                if (_claimed)
                {
                    return false;
                }
            }

            return StepOne(evidence, Audited, cancellationToken);
        }

        /// <summary>
        /// Walks one batch of the walks on the distilled reference (<paramref name="reference"/>: the audit's inputs with
        /// the session's reference) early; false when none is left or the probe has claimed them.
        /// </summary>
        public bool StepReference(ClassifierEvidence reference, CancellationToken cancellationToken)
        {
            WalkBatches work;
            lock (_gate)
            {
                if (_referenceClaimed)
                {
                    return false;
                }

                work = _reference ??= WalkBatches.For(reference, Inputs.Count);
            }

            return StepOne(reference, work, cancellationToken);
        }

        /// <summary>The reference walk's batches for the probe's run: those begun early, once; a fresh set for any later run.</summary>
        public WalkBatches ClaimReference(ClassifierEvidence reference)
        {
            lock (_gate)
            {
                if (!_referenceClaimed)
                {
                    _referenceClaimed = true;
                    return _reference ??= WalkBatches.For(reference, Inputs.Count);
                }
            }

            return WalkBatches.For(reference, Inputs.Count);
        }

        private bool StepOne(ClassifierEvidence evidence, WalkBatches batches, CancellationToken cancellationToken)
        {
            bool asked = false, walked = false;
            Perturb(
                evidence,
                batches,
                work =>
                {
                    if (asked)
                    {
                        return null;
                    }

                    asked = true;
                    int? batch = work.TakeFront();
                    walked = batch is not null;
                    return batch;
                },
                Inputs,
                Norm,
                Epsilon,
                Steps,
                Final,
                new Progress<double>(),
                cancellationToken);
            return walked;
        }

        /// <summary>The audited walk's batches for the probe's run: these, once; a fresh set for any later run.</summary>
        public WalkBatches Claim(ClassifierEvidence evidence)
        {
            lock (_gate)
            {
                if (!_claimed)
                {
                    _claimed = true;
                    return Audited;
                }
            }

            return WalkBatches.For(evidence, Inputs.Count);
        }

        public void Dispose()
        {
            Audited.Release();
            _reference?.Release();
            Inputs.Dispose();
        }
    }

    /// <summary>
    /// The walks' inputs as indices into the evidence (rows are copied per batch, so nothing the size of the sample is
    /// held while other probes run) and, for the ball geometries, their seeded random starts.
    /// </summary>
    private sealed class WalkInputs(Tensor evidence, Tensor chosen, Tensor? starts) : IDisposable
    {
        public long Count => chosen.shape[0];

        public long[] RowShape => evidence.shape[1..];

        /// <summary>Rows <paramref name="first"/> … of the sample: the same values a copy of the whole sample holds there.</summary>
        public Tensor Rows(long first, long size) => evidence.index_select(0, chosen.narrow(0, first, size));

        public Tensor Starts(long first, long size) =>
            (starts ?? throw new InvalidOperationException("An l0 walk has no random start.")).narrow(0, first, size);

        public void Dispose()
        {
            chosen.Dispose();
            starts?.Dispose();
        }
    }

    /// <summary>Binomial variance of a share <paramref name="p"/> of <paramref name="n"/> inputs, at least one input's worth.</summary>
    private static double Binomial(double p, double n)
    {
        double q = Math.Clamp(Math.Max(p, 1 / n), 0, 1);
        return q * (1 - q) / n;
    }

    private static Tensor ProjectL2(Tensor delta, double radius)
    {
        long size = delta.shape[0];
        Tensor length = delta.flatten(1).norm(1, true).ClampMin(1e-12);
        Tensor factor = length.DividedInto(radius).ClampMax(1).view([size, .. Enumerable.Repeat(1L, (int)delta.dim() - 1)]);
        return delta * factor;
    }

    /// <summary>The mean perturbation that carried other classes' inputs into the suspected class, as a PNG (mid-grey = no change).</summary>
    private static IReadOnlyList<EvidenceFile> Image(Walk walk, int target, ClassifierEvidence evidence)
    {
        long[] shape = walk.Delta.shape[1..];
        if (shape.Length != 3 || shape[0] is not (1 or 3) || shape[1] > 4096 || shape[2] > 4096)
        {
            return [];
        }

        long[] rows = Enumerable.Range(0, walk.Landing.Length).Where(i => walk.Landing[i] == target && walk.Source[i] != target).Select(i => (long)i).ToArray();
        if (rows.Length == 0)
        {
            return [];
        }

        using var scope = torch.NewDisposeScope();
        Tensor mean = walk.Delta.index_select(0, torch.tensor(rows).to(walk.Delta.device)).mean([0L]);
        float extent = Math.Max(mean.abs().max().item<float>(), 1e-12f);
        int channels = (int)shape[0], height = (int)shape[1], width = (int)shape[2];
        // PNG wants interleaved channels; the tensor is channel-first.
        float[] interleaved = mean.permute(1, 2, 0).contiguous().cpu().data<float>().ToArray();
        byte[] pixels = EvidencePng.ToBytes(interleaved, -extent, extent);
        return
        [
            new EvidenceFile($"adversarial-sink-class-{target}.png", "image/png",
                string.Create(CultureInfo.InvariantCulture, $"Mean perturbation that moved {rows.Length} inputs of other classes into class {target} (mid-grey: no change; ±{extent:G3} at black/white)."),
                EvidencePng.Encode(pixels, width, height, channels)),
        ];
    }

    private static JsonArray Rounded(IEnumerable<double> values) => new(values.Select(v => (JsonNode)Math.Round(v, 4)).ToArray());
}
