using Audit.Domain.Statistics;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>How the Neural Cleanse anomaly index is computed.</summary>
internal enum TriggerCalibration
{
    /// <summary>The paper's index over the raw mask norms.</summary>
    None,

    /// <summary>The index over log(norm / norm on a reference distilled from the model on clean inputs).</summary>
    Reference,
}

/// <summary>
/// Trigger reverse-engineering of the audited model and the decision it supports: which class is the suspected
/// backdoor target and how anomalous its trigger is. Computed once per audit and shared by the four trojan probes,
/// so they all name the same suspected class and stamp the same trigger.
/// </summary>
/// <param name="Audited">Triggers recovered on the audited model.</param>
/// <param name="Calibration">Whether the index is over raw norms or over ratios to the reference.</param>
/// <param name="ReferenceNorms">Per-class mask norms recovered on the distilled reference; null without calibration.</param>
/// <param name="ReferenceAgreement">Share of clean inputs on which the reference predicts the audited model's class.</param>
/// <param name="Scores">Per class, the value the anomaly index is taken over: the norm, or log(norm / reference norm).</param>
/// <param name="AnomalyIndices">Per class, (median − score) / (1.4826 · MAD) for scores below the median, else 0.</param>
/// <param name="Median">Median of <paramref name="Scores"/>.</param>
/// <param name="Mad">Median absolute deviation of <paramref name="Scores"/>.</param>
/// <param name="Basis">Per class, whether its score is in the median and MAD (every class up to 16 classes; a rank-stratified sample beyond).</param>
/// <param name="Transfer">
/// The suspected class's recovered trigger stamped on the clean inputs and run through the distilled reference as well
/// as the audited model; null without calibration. A trigger that also works on the reference is a natural feature of
/// the classes, not an implant.
/// </param>
internal sealed record TriggerScan(
    ReverseEngineeredTriggers Audited,
    TriggerCalibration Calibration,
    double[]? ReferenceNorms,
    double? ReferenceAgreement,
    double[] Scores,
    double[] AnomalyIndices,
    double Median,
    double Mad,
    bool[] Basis,
    TriggerTransfer? Transfer = null)
{
    /// <summary>Consistency constant that makes the MAD estimate the standard deviation of a normal distribution.</summary>
    private const double NormalConsistency = 1.4826;

    /// <summary>
    /// The refined class with the largest anomaly index (the smallest trigger, relative to the reference when
    /// calibrated); classes left at their screening score (beyond 16 classes) are not compared.
    /// </summary>
    public int SuspectedClass => Enumerable.Range(0, Scores.Length).Where(k => Audited.Refined[k]).MinBy(k => Scores[k]);

    public double AnomalyIndex => AnomalyIndices[SuspectedClass];

    /// <summary>The session's cache key of this scan: names the model, evidence, bounds and every setting it depends on.</summary>
    public string Key { get; init; } = "";

    /// <summary>
    /// Runs (or reuses from the audit's session) the reverse-engineering of the audited model and, when calibrated, of a
    /// reference distilled from it on the clean inputs.
    /// </summary>
    public static TriggerScan Run(
        ClassifierEvidence evidence,
        ReverseEngineeringSettings settings,
        TriggerCalibration calibration,
        ReferenceSettings reference,
        double ratioNoise,
        IProgress<double>? progress,
        CancellationToken cancellationToken)
    {
        string key = $"trigger-scan|{evidence.ModelKey}|{evidence.DatasetKey}|{evidence.Low}|{evidence.High}|{settings}|{calibration}|{reference}|{ratioNoise}";
        TriggerScan scan = evidence.Session.GetOrCreate(key, () => Compute(evidence, settings, calibration, reference, ratioNoise, progress, cancellationToken) with { Key = key }, out bool created);
        if (!created)
        {
            progress?.Report(1);
        }

        return scan;
    }

    /// <summary>
    /// Anomaly index of each value below the median: (median − value) / (1.4826 · MAD). Values above the median
    /// score 0, because only unusually small triggers indicate a backdoor.
    /// </summary>
    /// <param name="values">One value per class.</param>
    /// <param name="minimumScale">Smallest spread the index divides by (the measurement's own noise); 0 for the paper's index.</param>
    /// <param name="basis">Classes whose values the median and MAD are taken over (null: all).</param>
    internal static (double[] Indices, double Median, double Mad) MadAnomaly(IReadOnlyList<double> values, double minimumScale = 0, IReadOnlyList<bool>? basis = null)
    {
        IReadOnlyList<double> population = basis is null ? values : values.Where((_, k) => basis[k]).ToArray();
        double median = SampleStatistics.Median(population);
        double mad = SampleStatistics.MedianAbsoluteDeviation(population);
        double scale = Math.Max(Math.Max(NormalConsistency * mad, minimumScale), 1e-9 * Math.Max(Math.Abs(median), 1));
        return (values.Select(n => n < median ? (median - n) / scale : 0).ToArray(), median, mad);
    }

    /// <summary>
    /// Classes that get starts beyond the first and full early-stop patience: the lowest scores after screening,
    /// √K of them (at least 3). The index's candidate is almost always among them — a backdoor target's trigger
    /// shrinks fastest (K-Arm's observation) — and only they can decide the verdict.
    /// </summary>
    internal static int CandidateCount(int classes) => Math.Min(classes, Math.Max(3, (int)Math.Ceiling(Math.Sqrt(classes))));

    /// <summary>Most classes whose refined scores form the index's yardstick (median and MAD); beyond it, a rank-stratified sample.</summary>
    internal const int RefinedClasses = 16;

    /// <summary>
    /// From the screening scores (ascending is suspicious): the candidates (<see cref="CandidateCount"/> lowest) and the
    /// basis — the classes whose refined scores give the median and MAD. Up to <see cref="RefinedClasses"/> classes the
    /// basis is every class (the paper's index); beyond that it is a sample at evenly spaced ranks of the whole
    /// screening order, whose median and MAD estimate the population's (a quantile of an evenly spaced rank sample
    /// tracks the population's; the candidates are not over-represented, which would pull the median down). The
    /// refined classes are both sets; only they can be the suspected class.
    /// </summary>
    internal static (int[] Refined, int[] Candidates, bool[] Basis) Select(IReadOnlyList<double> screeningScores)
    {
        int classes = screeningScores.Count;
        int[] order = [.. Enumerable.Range(0, classes).OrderBy(k => screeningScores[k]).ThenBy(k => k)];
        int[] candidates = order[..CandidateCount(classes)];
        int[] basis = classes <= RefinedClasses
            ? order
            : [.. Enumerable.Range(0, RefinedClasses).Select(i => order[(int)Math.Floor((i + 0.5) * classes / RefinedClasses)])];
        bool[] inBasis = new bool[classes];
        foreach (int k in basis)
        {
            inBasis[k] = true;
        }

        return ([.. candidates.Concat(basis).Distinct().Order()], candidates, inBasis);
    }

    private static TriggerScan Compute(
        ClassifierEvidence evidence,
        ReverseEngineeringSettings settings,
        TriggerCalibration calibration,
        ReferenceSettings referenceSettings,
        double ratioNoise,
        IProgress<double>? progress,
        CancellationToken cancellationToken)
    {
        // The count this thread ran with before the scan, read before any lane pins its own (see IntraOpThreads).
        int hostThreads = torch.get_num_threads();
        using IntraOpThreads pinned = IntraOpThreads.Pin(settings.Threads, hostThreads);
        bool calibrated = calibration == TriggerCalibration.Reference;
        int classes = evidence.Classes;
        int screening = Math.Min(settings.ScreeningSteps, settings.MaxSteps);
        var everyClass = Enumerable.Range(0, classes).ToHashSet();
        using var audited = new TriggerSearch(evidence, settings);
        audited.AddStarts(everyClass, 1);
        if (!calibrated)
        {
            audited.Run(everyClass, screening, everyClass, settings.EarlyStopPatience, settings.EarlyStopPatience, Share(progress, 0, 0.3), cancellationToken);
            (int[] refinedOnly, int[] candidatesOnly, bool[] plainBasis) = Select(audited.CurrentNorms());
            Refine(audited, refinedOnly, candidatesOnly, settings, Share(progress, 0.3, 0.7), cancellationToken);
            ReverseEngineeredTriggers plainTriggers = audited.Result(refinedOnly.ToHashSet());
            (double[] plain, double median, double mad) = MadAnomaly(plainTriggers.MaskNorms, 0, plainBasis);
            return new TriggerScan(plainTriggers, calibration, null, null, plainTriggers.MaskNorms, plain, median, mad, plainBasis);
        }

        // Two lanes of one thread each: the audited model's triggers, and the reference (distillation, then its
        // triggers). Each lane is deterministic on its own; nothing in one waits for the other until the schedule
        // needs both screenings. The teacher's targets come first, so the reference lane never calls the audited model.
        // The reference is the session's (DistilledReference.Shared): the adversarial sink test walks on the same one.
        Tensor? targets = null;
        if (!evidence.Session.Contains(DistilledReference.Key(evidence, referenceSettings)))
        {
            using IDisposable? stage = evidence.Timings?.Stage("scan.teacher-targets");
            targets = DistilledReference.TeacherTargets(evidence, referenceSettings, cancellationToken);
        }

        using Tensor? ownedTargets = targets;

        // The reference's classes are split between the lanes: the audited model's search costs a fraction of the
        // reference's (distillation, then a larger network), so the audited lane also takes every third of the
        // reference's classes once the reference is trained. Each row's trajectory is its own (seeded start, the
        // step's fixed clean inputs, its own Adam state and schedule), and the two searches are kept at a common global
        // step, so the split changes which forward a row shares, not what it computes.
        var referenceOnAudited = Enumerable.Range(0, classes).Where(k => k % 3 == 2).ToHashSet();
        var referenceOnReference = Enumerable.Range(0, classes).Where(k => !referenceOnAudited.Contains(k)).ToHashSet();
        var trained = new TaskCompletionSource<ClassifierEvidence>(TaskCreationOptions.RunContinuationsAsynchronously);
        TriggerSearch? recoveredHere = null, recoveredThere = null, laterStarts = null;
        int screened = 0;
        double[]? screeningNorms = null;
        int shortPatience = Math.Max(2, settings.EarlyStopPatience / 2);

        // Up to RefinedClasses classes every class is refined, and only which are candidates (more starts, longer
        // patience) waits for the reference's screening: the audited model's refinement starts while the reference
        // distils, every class treated as a candidate, and is settled once the candidates are known (see
        // TriggerSearch.RunSpeculatively). The numbers are those of the refinement run after the screening.
        bool speculate = classes <= RefinedClasses;
        ClassifierEvidence? referenceEvidence = null;
        DistilledReference? reference = null;

        TriggerSearch ReferenceSearch(ClassifierEvidence model, IReadOnlySet<int> own)
        {
            var search = new TriggerSearch(model, settings);
            search.AddStarts(own, 1);
            return search;
        }

        try
        {
            Lanes.Both(
                settings.Threads,
                hostThreads,
                () =>
                {
                    using (evidence.Timings?.Stage("scan.audited.screening"))
                    {
                        audited.Run(everyClass, screening, everyClass, settings.EarlyStopPatience, settings.EarlyStopPatience, Share(progress, 0, AuditedScreeningShare), cancellationToken);
                    }

                    screened = audited.Steps;
                    screeningNorms = audited.CurrentNorms();
                    if (speculate)
                    {
                        using IDisposable? early = evidence.Timings?.Stage("scan.audited.refine");
                        audited.RunSpeculatively(everyClass, settings.MaxSteps, settings.EarlyStopPatience, shortPatience, () => trained.Task.IsCompleted, cancellationToken);
                    }

                    // The reference is being distilled on the other lane: this lane, which computes only on the audited
                    // model until then, does audited-model work that later probes of the audit offered (IdleWork).
                    using (evidence.Timings?.Stage("scan.idle-work"))
                    {
                        evidence.Session.Idle.RunUntil(trained.Task, Sessions.IdleModel.Audited, cancellationToken);
                    }

                    ClassifierEvidence model = trained.Task.GetAwaiter().GetResult();
                    using IDisposable? stage = evidence.Timings?.Stage("scan.reference.screening");
                    recoveredHere = ReferenceSearch(model, referenceOnAudited);
                    recoveredHere.Run(referenceOnAudited, screening, everyClass, settings.EarlyStopPatience, settings.EarlyStopPatience, null, cancellationToken);
                },
                () =>
                {
                    try
                    {
                        using (evidence.Timings?.Stage("scan.reference.distil"))
                        {
                            reference = DistilledReference.Shared(
                                evidence,
                                referenceSettings,
                                () => targets ?? throw new InvalidOperationException("The session's reference is gone while the scan runs."),
                                cancellationToken,
                                Share(progress, AuditedScreeningShare, DistillationShare));
                        }

                        referenceEvidence = evidence.WithModel(reference, $"reference|{referenceSettings}");
                        trained.SetResult(referenceEvidence);
                    }
                    catch (Exception error)
                    {
                        trained.TrySetException(error);
                        throw;
                    }

                    using IDisposable? stage = evidence.Timings?.Stage("scan.reference.screening");
                    recoveredThere = ReferenceSearch(referenceEvidence, referenceOnReference);
                    recoveredThere.Run(referenceOnReference, screening, everyClass, settings.EarlyStopPatience, settings.EarlyStopPatience, null, cancellationToken);
                },
                cancellationToken);
            TriggerSearch here = recoveredHere!, there = recoveredThere!;
            Align(here, there);
            // The audited model's screening norms as the screening left them (its refinement may have begun since).
            (int[] refined, int[] candidates, bool[] basis) = Select(LogRatios(screeningNorms!, Merge(here.CurrentNorms(), there.CurrentNorms())));
            progress?.Report(ScreenedShare);

            // The refinement ends when the slower lane does: each lane reports its own part, the scan the lesser.
            var refinement = new SlowerLane(Share(progress, ScreenedShare, RefinementShare));

            // The reference follows the same schedule: the same classes refined, the same extra starts, so each
            // class's ratio compares like with like. The lanes' shares rarely end together: the one done first walks
            // later probes' offered steps on the reference (the adversarial sink test's) until the other is done.
            Lanes.BothFillingWaits(
                settings.Threads,
                hostThreads,
                () =>
                {
                    using (evidence.Timings?.Stage("scan.audited.refine"))
                    {
                        if (speculate)
                        {
                            // The candidates' further starts begin where a single search would have added them, at the
                            // end of the screening, in a search of their own (each row's trajectory is its own).
                            audited.SettleSpeculation(candidates.ToHashSet());
                            if (settings.Restarts > 1)
                            {
                                laterStarts = new TriggerSearch(evidence, settings);
                                laterStarts.AlignSteps(screened);
                                laterStarts.AddStarts(candidates, settings.Restarts, firstStart: 1);
                                laterStarts.Run(refined.ToHashSet(), settings.MaxSteps, candidates.ToHashSet(), settings.EarlyStopPatience, shortPatience, null, cancellationToken);
                            }

                            audited.Run(refined.ToHashSet(), settings.MaxSteps, candidates.ToHashSet(), settings.EarlyStopPatience, shortPatience, Share(refinement.First, 0, 0.5), cancellationToken);
                        }
                        else
                        {
                            Refine(audited, refined, candidates, settings, Share(refinement.First, 0, 0.5), cancellationToken);
                        }
                    }

                    using IDisposable? stage = evidence.Timings?.Stage("scan.reference.refine");
                    Refine(here, [.. refined.Where(referenceOnAudited.Contains)], [.. candidates.Where(referenceOnAudited.Contains)], settings, Share(refinement.First, 0.5, 0.5), cancellationToken);
                    refinement.First.Report(1);
                },
                () =>
                {
                    using IDisposable? stage = evidence.Timings?.Stage("scan.reference.refine");
                    Refine(there, [.. refined.Where(referenceOnReference.Contains)], [.. candidates.Where(referenceOnReference.Contains)], settings, refinement.Second, cancellationToken);
                    refinement.Second.Report(1);
                },
                evidence.Session.Idle,
                Sessions.IdleModel.Reference,
                evidence.Timings,
                "scan.idle-work",
                cancellationToken);
            Align(here, there);
            var refinedSet = refined.ToHashSet();
            ReverseEngineeredTriggers auditedTriggers = speculate
                ? audited.Result(refinedSet, laterStarts, Math.Max(audited.StepsEndedAt(screened), laterStarts?.StepsEndedAt(screened) ?? screened))
                : audited.Result(refinedSet);
            double[] referenceNorms = Merge(here.ResultNorms(), there.ResultNorms());

            // Ratios remove each class's natural cost (shared by model and reference); logs make them symmetric, so
            // a trigger 4× smaller than its class's natural cost is as far from the median as one 4× larger.
            double[] scores = LogRatios(auditedTriggers.MaskNorms, referenceNorms);
            // With ten classes the MAD of one run can come out far below the ratios' run-to-run noise (a clean model's
            // classes happen to agree closely), and then an ordinary gap reads as an outlier: the spread is floored at
            // that measured noise. Beyond RefinedClasses classes, the median and MAD are the rank-stratified basis's.
            (double[] indices, double m, double d) = MadAnomaly(scores, ratioNoise, basis);
            int suspected = refined.MinBy(k => scores[k]);

            // The reference's agreement and the trigger's transfer take one lane; the other walks offered steps on the
            // reference meanwhile.
            double agreement = 0;
            TriggerTransfer? transfer = null;
            Lanes.BothFillingWaits(
                settings.Threads,
                hostThreads,
                () =>
                {
                    using (evidence.Timings?.Stage("scan.agreement"))
                    {
                        agreement = reference!.Agreement(evidence, cancellationToken);
                    }

                    using IDisposable? stage = evidence.Timings?.Stage("scan.transfer");
                    transfer = TriggerTransfer.Measure(evidence, referenceEvidence!, auditedTriggers, suspected, cancellationToken);
                },
                () => { },
                evidence.Session.Idle,
                Sessions.IdleModel.Reference,
                evidence.Timings,
                "scan.idle-work",
                cancellationToken);

            progress?.Report(1);
            return new TriggerScan(auditedTriggers, calibration, referenceNorms, agreement, scores, indices, m, d, basis, transfer!);
        }
        finally
        {
            // The reference itself belongs to the session.
            laterStarts?.Dispose();
            recoveredHere?.Dispose();
            recoveredThere?.Dispose();
            referenceEvidence?.Dispose();
        }
    }

    /// <summary>Per class, the value from whichever of two searches over disjoint classes holds it.</summary>
    private static double[] Merge(double[] first, double[] second) => first.Zip(second, (a, b) => double.IsNaN(a) ? b : a).ToArray();

    /// <summary>Both searches at the later one's global step (where one search over all their classes would be).</summary>
    private static void Align(TriggerSearch first, TriggerSearch second)
    {
        int steps = Math.Max(first.Steps, second.Steps);
        first.AlignSteps(steps);
        second.AlignSteps(steps);
    }

    private static double[] LogRatios(IReadOnlyList<double> audited, IReadOnlyList<double> reference) =>
        audited.Zip(reference, (a, r) => Math.Log(Math.Max(a, 1e-6) / Math.Max(r, 1e-6))).ToArray();

    /// <summary>
    /// Refinement: extra random starts for the candidates, then every refined class until it stops shrinking or the
    /// step budget ends. Candidates keep the full early-stop patience; the others, which only set the median and MAD,
    /// stop after half of it (at least two rounds) — effort goes where it can change the verdict.
    /// </summary>
    private static void Refine(TriggerSearch search, int[] refined, int[] candidates, ReverseEngineeringSettings settings, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        search.AddStarts(candidates, settings.Restarts);
        search.Run(refined.ToHashSet(), settings.MaxSteps, candidates.ToHashSet(), settings.EarlyStopPatience, Math.Max(2, settings.EarlyStopPatience / 2), progress, cancellationToken);
    }

    // Where the calibrated scan's progress stands at each point of its critical path, the reference's lane: on the
    // README's 10-class example the audited model's screening took 0.9 s, the distillation 8.6 s, the reference's
    // screening 1.9 s and the refinement 6.7 s on the slower lane, the agreement and transfer 0.6 s (docs/benchmarks.md,
    // "The 10-class budget on the AMD EPYC"). Progress only steers the audit's estimate of the time left; it never
    // touches a result.
    private const double AuditedScreeningShare = 0.05;
    private const double DistillationShare = 0.45;
    private const double ScreenedShare = 0.58;
    private const double RefinementShare = 0.38;

    private static ShareOfProgress? Share(IProgress<double>? progress, double from, double width) =>
        progress is null ? null : new ShareOfProgress(progress, from, width);

    /// <summary>Reports into [from, from + width] of another progress, on the reporting thread.</summary>
    private sealed class ShareOfProgress(IProgress<double> progress, double from, double width) : IProgress<double>
    {
        public void Report(double value) => progress.Report(from + (width * value));
    }

    /// <summary>Two lanes' progress, reported as the lesser of the two: the work ends when the slower lane does.</summary>
    private sealed class SlowerLane
    {
        private readonly IProgress<double>? _progress;
        private readonly Lock _gate = new();
        private double _first;
        private double _second;

        public SlowerLane(IProgress<double>? progress)
        {
            _progress = progress;
            First = new Lane(this, first: true);
            Second = new Lane(this, first: false);
        }

        public IProgress<double> First { get; }

        public IProgress<double> Second { get; }

        private void Report(bool first, double value)
        {
            double slower;
            lock (_gate)
            {
                if (first)
                {
                    _first = Math.Max(_first, value);
                }
                else
                {
                    _second = Math.Max(_second, value);
                }

                slower = Math.Min(_first, _second);
            }

            _progress?.Report(slower);
        }

        private sealed class Lane(SlowerLane owner, bool first) : IProgress<double>
        {
            public void Report(double value) => owner.Report(first, value);
        }
    }
}
