using System.Diagnostics;
using Audit.Evaluators.Models;
using Audit.Evaluators.Runtime;
using Audit.Evaluators.Sessions;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>Settings of the Neural Cleanse optimisation; part of the session cache key.</summary>
internal sealed record ReverseEngineeringSettings(
    int MaxSteps,
    int SamplesPerClass,
    double LearningRate,
    double InitialCost,
    double AttackThreshold,
    int CheckEvery,
    int CostPatience,
    int EarlyStopPatience,
    int EvaluationInputs,
    int Restarts,
    int Seed,
    int ScreeningSteps,
    int Threads,
    long ChunkElements);

/// <summary>What trigger reverse-engineering found for every class. Plain arrays: no native memory is kept.</summary>
/// <param name="MaskNorms">L1 norm of the smallest mask that reached the attack threshold, per class (or the last mask's, when none did).</param>
/// <param name="AttackSuccess">Share of the last batch sent to the class by its best trigger, per class.</param>
/// <param name="Reached">Whether the class's trigger ever reached the attack threshold.</param>
/// <param name="Masks">Per class, the best mask flattened (<see cref="MaskShape"/>), values in [0, 1].</param>
/// <param name="Patterns">Per class, the best pattern flattened (<see cref="PatternShape"/>), values inside the input bounds.</param>
/// <param name="MaskShape">Shape of one mask: <c>[1, H, W]</c> for images, <c>[F]</c> for vectors.</param>
/// <param name="PatternShape">Shape of one pattern: the sample shape.</param>
/// <param name="Steps">Optimisation steps run before stopping (screening and refinement).</param>
/// <param name="Refined">Per class, whether it was optimised past the screening pass (else its norm is the screening's coarse upper bound).</param>
/// <param name="Starts">Per class, how many random starts were optimised.</param>
/// <param name="Low">Lowest valid input value used.</param>
/// <param name="High">Highest valid input value used.</param>
internal sealed record ReverseEngineeredTriggers(
    double[] MaskNorms,
    double[] AttackSuccess,
    bool[] Reached,
    float[][] Masks,
    float[][] Patterns,
    long[] MaskShape,
    long[] PatternShape,
    int Steps,
    bool[] Refined,
    int[] Starts,
    float Low,
    float High)
{
    /// <summary>The class with the smallest trigger.</summary>
    public int SmallestClass => Array.IndexOf(MaskNorms, MaskNorms.Min());

    /// <summary>Stamps class <paramref name="target"/>'s trigger on <paramref name="inputs"/>: (1 − m) ⊙ x + m ⊙ p.</summary>
    public Tensor Stamp(Tensor inputs, int target)
    {
        using var scope = torch.NewDisposeScope();
        Tensor mask = torch.tensor(Masks[target], MaskShape).to(inputs.device);
        Tensor pattern = torch.tensor(Patterns[target], PatternShape).to(inputs.device);
        return mask.SubtractedFrom(1).mul(inputs).Add(mask * pattern).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A reference model the contrastive trigger search keeps from following the trigger, and the weight of that term
/// (<see cref="ContrastivePatchInversionProbe"/>).
/// </summary>
internal sealed record TriggerContrast(IDifferentiableModel Reference, double Weight);

/// <summary>
/// Neural Cleanse trigger reverse-engineering (Wang et al., "Neural Cleanse: Identifying and Mitigating Backdoor
/// Attacks in Neural Networks", IEEE S&amp;P 2019) of one model, as a set of independent optimisation rows that a
/// schedule (<see cref="TriggerScan"/>) advances: for a row of class k, find a mask m and pattern p minimising
/// CE(f((1 − m) ⊙ x + m ⊙ p), k) + λ·|m|₁ over clean inputs x, with λ adjusted up while the trigger works and down
/// while it does not (the paper's cost schedule).
/// </summary>
/// <remarks>
/// The active rows are optimised together: each step stamps every active row's trigger on the same B clean inputs
/// and runs them through the model in as few forwards as the memory bound (<c>ChunkElements</c> input values per
/// forward) allows; per-row losses are summed, so their gradients stay independent. Adam runs per row (its own
/// moments and step count), so a row that waits while others are optimised resumes exactly where it stopped, and
/// rows can be added (further random starts) without touching the others. Each row's initial values come from a
/// generator seeded by the seed, the class and the start, so a row's trajectory does not depend on which other rows
/// share its batch. The mask is shared across channels, as in the paper; mask and pattern are tanh-parametrised, so
/// the mask stays in [0, 1] and the pattern inside the input bounds — never assumed to be [0, 1]. Every
/// <c>CheckEvery</c> steps the active rows' attack rates (on a fixed, seeded held-out set) and norms are read back
/// to adjust λ and to stop rows whose smallest working mask stopped shrinking.
/// </remarks>
internal sealed class TriggerSearch : IDisposable
{
    private readonly ClassifierEvidence evidence;
    private readonly ReverseEngineeringSettings settings;
    private readonly long[] sample;
    private readonly long[] maskSample;
    private readonly float low;
    private readonly float span;
    private readonly double maskPositions;
    private readonly Tensor sampleIndex;
    private readonly Tensor evaluation;
    private readonly List<Row> rows = [];
    private readonly HeapTrimmer trimmer = new();

    // While speculating (RunSpeculatively), each row's state at its short-patience stop is kept.
    private bool speculating;

    // [R, ...] per row: parameters, Adam moments, and the smallest working trigger so far.
    private Tensor maskParameter;
    private Tensor patternParameter;
    private Tensor maskFirst;
    private Tensor maskSecond;
    private Tensor patternFirst;
    private Tensor patternSecond;
    private Tensor bestMask;
    private Tensor bestPattern;

    // The contrast (null: the plain search): a reference that must not follow the trigger, and its own labels of the
    // sampled inputs and of the held-out evaluation inputs.
    private readonly TriggerContrast? contrast;
    private readonly Tensor? contrastLabels;
    private readonly Tensor? evaluationContrastLabels;

    public TriggerSearch(ClassifierEvidence evidence, ReverseEngineeringSettings settings)
        : this(evidence, settings, null)
    {
    }

    /// <summary>
    /// A search whose triggers must also leave <paramref name="contrast"/>'s reference where it was (null: the plain
    /// Neural Cleanse search): the loss adds <c>weight · −log(1 − p_ref(target))</c> on every stamped input the
    /// reference does not already put in the target, and a stamped input counts towards the attack rate only if the
    /// audited model goes to the target and the reference does not.
    /// </summary>
    public TriggerSearch(ClassifierEvidence evidence, ReverseEngineeringSettings settings, TriggerContrast? contrast)
    {
        this.evidence = evidence;
        this.settings = settings;
        this.contrast = contrast;
        sample = evidence.Inputs.shape[1..];

        // Mask: one value per position shared by channels ([1, H, W] for images, [F] for vectors).
        maskSample = sample.Length >= 3 ? [1, .. sample[1..]] : sample;
        low = evidence.Low;
        span = evidence.High - evidence.Low;
        maskPositions = maskSample.Aggregate(1L, (a, b) => a * b);
        Device device = evidence.Device;
        using var generator = new torch.Generator((ulong)settings.Seed);
        sampleIndex = torch.randint(evidence.Count, [settings.MaxSteps, settings.SamplesPerClass], generator: generator).to(device).DetachFromDisposeScope();
        using (Tensor permutation = torch.randperm(evidence.Count, generator: generator))
        using (Tensor chosen = permutation[..Math.Min(evidence.Count, settings.EvaluationInputs)].to(device))
        {
            evaluation = evidence.Inputs.index_select(0, chosen).DetachFromDisposeScope();
        }

        maskParameter = torch.zeros([0, .. maskSample], device: device).DetachFromDisposeScope();
        patternParameter = torch.zeros([0, .. sample], device: device).DetachFromDisposeScope();
        maskFirst = maskParameter.clone().DetachFromDisposeScope();
        maskSecond = maskParameter.clone().DetachFromDisposeScope();
        patternFirst = patternParameter.clone().DetachFromDisposeScope();
        patternSecond = patternParameter.clone().DetachFromDisposeScope();
        bestMask = maskParameter.clone().DetachFromDisposeScope();
        bestPattern = patternParameter.clone().DetachFromDisposeScope();
        if (contrast is not null)
        {
            using var noGrad = torch.no_grad();
            contrastLabels = evidence.Batched(evidence.Count, (first, size) => contrast.Reference.Forward(evidence.Inputs.narrow(0, first, size)).flatten(1).argmax(1), CancellationToken.None).DetachFromDisposeScope();
            evaluationContrastLabels = contrast.Reference.Forward(evaluation).flatten(1).argmax(1).DetachFromDisposeScope();
        }
    }

    /// <summary>Global optimisation steps taken so far (each served every row active at that step).</summary>
    public int Steps { get; private set; }

    public int Classes => evidence.Classes;

    /// <summary>Adds one row per (class, start) pair for starts not yet present, each from its own seeded random start.</summary>
    public void AddStarts(IEnumerable<int> classes, int starts) => AddStarts(classes, starts, 0);

    /// <summary>
    /// As <see cref="AddStarts(IEnumerable{int}, int)"/>, numbering this search's rows of a class from
    /// <paramref name="firstStart"/>: a search that holds only the later starts of classes whose first start another
    /// search optimises (each start's row is seeded by its number, so it is the row a single search would hold).
    /// </summary>
    public void AddStarts(IEnumerable<int> classes, int starts, int firstStart)
    {
        var added = new List<(int Class, int Start)>();
        foreach (int k in classes)
        {
            int present = firstStart + rows.Count(r => r.Class == k);
            for (int s = present; s < starts; s++)
            {
                added.Add((k, s));
            }
        }

        if (added.Count == 0)
        {
            return;
        }

        using var scope = torch.NewDisposeScope();
        var masks = new List<Tensor>();
        var patterns = new List<Tensor>();
        foreach ((int k, int s) in added)
        {
            // Seeded by (seed, class, start) only, so a row starts the same whatever rows were added before it.
            using var generator = new torch.Generator(unchecked((ulong)settings.Seed * 1_000_003UL + (ulong)s * 65_537UL + (ulong)k));
            masks.Add(torch.randn([1, .. maskSample], generator: generator).Mul(0.1));
            patterns.Add(torch.randn([1, .. sample], generator: generator).Mul(0.1));
            rows.Add(new Row(k, s, settings.InitialCost));
        }

        Device device = evidence.Device;
        Tensor newMasks = torch.cat(masks, 0).to(device);
        Tensor newPatterns = torch.cat(patterns, 0).to(device);
        Grow(ref maskParameter, newMasks);
        Grow(ref patternParameter, newPatterns);
        Grow(ref maskFirst, torch.zeros_like(newMasks));
        Grow(ref maskSecond, torch.zeros_like(newMasks));
        Grow(ref patternFirst, torch.zeros_like(newPatterns));
        Grow(ref patternSecond, torch.zeros_like(newPatterns));
        Grow(ref bestMask, torch.zeros_like(newMasks));
        Grow(ref bestPattern, torch.zeros_like(newPatterns));
    }

    /// <summary>Rows of <paramref name="classes"/> that have not stopped.</summary>
    public bool AnyActive(IReadOnlySet<int> classes) => rows.Any(r => !r.Stopped && classes.Contains(r.Class));

    /// <summary>
    /// Optimises the rows of <paramref name="classes"/> (with each row's early-stop patience: <paramref name="patience"/>
    /// for classes in <paramref name="patient"/>, else <paramref name="shortPatience"/>) until global step
    /// <paramref name="untilStep"/> or until all of them stopped.
    /// </summary>
    public void Run(IReadOnlySet<int> classes, int untilStep, IReadOnlySet<int> patient, int patience, int shortPatience, IProgress<double>? progress, CancellationToken cancellationToken) =>
        Run(classes, untilStep, patient, patience, shortPatience, null, progress, cancellationToken);

    /// <summary>
    /// Optimises every row of <paramref name="classes"/> as a candidate (<paramref name="patience"/>) before the
    /// candidates are known, until <paramref name="pause"/> says so (checked between steps): the refinement's rows
    /// follow the same trajectory whoever turns out a candidate, and a row stops only at a check. At the first check
    /// where a row would have stopped with <paramref name="shortPatience"/> (as a non-candidate), its state is kept;
    /// <see cref="SettleSpeculation"/> later restores that state for the rows that are not candidates, so the search
    /// ends exactly where one that knew the candidates from the start would have.
    /// </summary>
    public void RunSpeculatively(IReadOnlySet<int> classes, int untilStep, int patience, int shortPatience, Func<bool> pause, CancellationToken cancellationToken)
    {
        speculating = true;
        Run(classes, untilStep, classes, patience, shortPatience, pause, null, cancellationToken);
    }

    /// <summary>
    /// Ends speculation (<see cref="RunSpeculatively"/>): rows of classes outside <paramref name="patient"/> that reached
    /// their short patience are put back to the state they had then and stopped there; the others go on.
    /// </summary>
    public void SettleSpeculation(IReadOnlySet<int> patient)
    {
        speculating = false;
        using var noGrad = torch.no_grad();
        for (int i = 0; i < rows.Count; i++)
        {
            Row row = rows[i];
            if (row.Held is not { } held)
            {
                continue;
            }

            row.Held = null;
            if (!patient.Contains(row.Class))
            {
                held.Restore(row);
                foreach ((Tensor target, Tensor value) in new[] { (maskParameter, held.Mask), (patternParameter, held.Pattern), (bestMask, held.BestMask), (bestPattern, held.BestPattern) })
                {
                    target[i].copy_(value);
                }
            }

            held.Dispose();
        }
    }

    /// <summary>
    /// The global step count a single search over these rows would have ended at, having started at
    /// <paramref name="from"/>: the step after the last row stopped, or the step budget while any row runs.
    /// </summary>
    public int StepsEndedAt(int from) =>
        rows.Any(r => !r.Stopped) ? Steps : Math.Max(from, rows.Select(r => r.StoppedAt + 1).DefaultIfEmpty(from).Max());

    private void Run(IReadOnlySet<int> classes, int untilStep, IReadOnlySet<int> patient, int patience, int shortPatience, Func<bool>? pause, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        untilStep = Math.Min(untilStep, settings.MaxSteps);
        int from = Steps;
        for (; Steps < untilStep; Steps++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (pause?.Invoke() == true)
            {
                break;
            }

            int[] active = Enumerable.Range(0, rows.Count).Where(i => !rows[i].Stopped && classes.Contains(rows[i].Class)).ToArray();
            if (active.Length == 0)
            {
                break;
            }

            bool check = (Steps + 1) % settings.CheckEvery == 0;
            Step(active, check, patient, patience, shortPatience);

            // Every step frees and reallocates activations of several sizes on this lane's glibc arena; without a trim
            // the arenas' free space stays resident and the scan's peak grew to 1.1–1.8 GB for sub-MB models
            // (docs/benchmarks.md, "Where the memory goes"). Only above three quarters of the memory budget, and then
            // only once the process has grown past what the last trim left (HeapTrimmer): the pages handed back are
            // faulted in again by the next step. Looked at every step (reading the resident size costs microseconds):
            // ten steps of a 100-class 3×64×64 screening grew the process by over 200 MiB.
            trimmer.TrimWhenGrown();
            progress?.Report((double)(Steps + 1 - from) / Math.Max(1, untilStep - from));
        }
    }

    /// <summary>Per class, the smallest working norm over its rows, or the smallest last norm when none worked yet (NaN for a class without rows).</summary>
    public double[] CurrentNorms() => Enumerable.Range(0, Classes).Select(k =>
    {
        Row[] own = [.. rows.Where(r => r.Class == k)];
        return own.Length == 0 ? double.NaN
            : own.Any(r => double.IsFinite(r.Best)) ? own.Where(r => double.IsFinite(r.Best)).Min(r => r.Best) : own.Min(r => r.LastNorm);
    }).ToArray();

    /// <summary>
    /// Per class, the norm <see cref="Result(IReadOnlySet{int})"/> reports (the chosen start's smallest working norm, else its last norm), NaN
    /// for a class without rows: what a search that holds only some classes contributes to a scan split across lanes.
    /// </summary>
    public double[] ResultNorms() => Enumerable.Range(0, Classes).Select(k =>
    {
        Row[] own = [.. rows.Where(r => r.Class == k)];
        if (own.Length == 0)
        {
            return double.NaN;
        }

        Row best = own.OrderBy(r => double.IsFinite(r.Best) ? 0 : 1).ThenBy(r => double.IsFinite(r.Best) ? r.Best : r.LastNorm).ThenBy(r => r.Start).First();
        return double.IsFinite(best.Best) ? best.Best : best.LastNorm;
    }).ToArray();

    /// <summary>
    /// Moves the global step on to <paramref name="steps"/> when this search stopped earlier: when one model's classes are
    /// split across two searches, a single search would have gone on stepping until the last of them stopped, and rows
    /// added afterwards must start at that step (each step's clean inputs are fixed by its index).
    /// </summary>
    public void AlignSteps(int steps) => Steps = Math.Max(Steps, steps);

    /// <summary>The triggers found: per class the start with the smallest working mask (else the smallest last mask).</summary>
    public ReverseEngineeredTriggers Result(IReadOnlySet<int> refined) => Result(refined, null, Steps);

    /// <summary>
    /// The triggers found by this search and <paramref name="later"/>, which holds later starts of some classes (see
    /// <see cref="AddStarts(IEnumerable{int}, int, int)"/>): per class the better of the two searches' choices by the
    /// same order a single search uses, with <paramref name="steps"/> as the steps run.
    /// </summary>
    public ReverseEngineeredTriggers Result(IReadOnlySet<int> refined, TriggerSearch? later, int steps)
    {
        ReverseEngineeredTriggers own = OwnResult(refined, steps);
        if (later is null)
        {
            return own;
        }

        ReverseEngineeredTriggers other = later.OwnResult(refined, steps);
        (bool Reached, double Norm) Key(ReverseEngineeredTriggers r, int k) => (r.Reached[k], r.MaskNorms[k]);
        bool[] takeOther = [.. Enumerable.Range(0, Classes).Select(k =>
            other.Starts[k] > 0 && (own.Starts[k] == 0
                || (Key(other, k).Reached && !Key(own, k).Reached)
                || (Key(other, k).Reached == Key(own, k).Reached && other.MaskNorms[k] < own.MaskNorms[k])))];
        T[] Pick<T>(T[] mine, T[] theirs) => [.. Enumerable.Range(0, Classes).Select(k => takeOther[k] ? theirs[k] : mine[k])];
        return own with
        {
            MaskNorms = Pick(own.MaskNorms, other.MaskNorms),
            AttackSuccess = Pick(own.AttackSuccess, other.AttackSuccess),
            Reached = Pick(own.Reached, other.Reached),
            Masks = Pick(own.Masks, other.Masks),
            Patterns = Pick(own.Patterns, other.Patterns),
            Starts = [.. Enumerable.Range(0, Classes).Select(k => own.Starts[k] + other.Starts[k])],
        };
    }

    private ReverseEngineeredTriggers OwnResult(IReadOnlySet<int> refined, int steps)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // Rows whose trigger never reached the threshold keep their last mask: an upper bound on their norm.
        Tensor lastMask = TanhTrigger.Mask(maskParameter);
        Tensor lastPattern = TanhTrigger.Pattern(patternParameter, low, span);
        var chosen = new long[Classes];
        var norms = new double[Classes];
        var attack = new double[Classes];
        var reached = new bool[Classes];
        var starts = new int[Classes];
        var useLast = new bool[Classes];
        for (int k = 0; k < Classes; k++)
        {
            int[] own = [.. Enumerable.Range(0, rows.Count).Where(i => rows[i].Class == k)];
            if (own.Length == 0)
            {
                // A search holding some classes only (Result's later starts): nothing to choose; never picked.
                norms[k] = double.NaN;
                useLast[k] = true;
                continue;
            }

            int best = own.OrderBy(i => double.IsFinite(rows[i].Best) ? 0 : 1)
                .ThenBy(i => double.IsFinite(rows[i].Best) ? rows[i].Best : rows[i].LastNorm)
                .ThenBy(i => rows[i].Start)
                .First();
            chosen[k] = best;
            starts[k] = own.Length;
            reached[k] = double.IsFinite(rows[best].Best);
            norms[k] = reached[k] ? rows[best].Best : rows[best].LastNorm;
            attack[k] = reached[k] ? rows[best].BestAttack : rows[best].LastAttack;
            useLast[k] = !reached[k];
        }

        Tensor index = torch.tensor(chosen).to(evidence.Device);
        Tensor masksCpu = bestMask.index_select(0, index).cpu();
        Tensor patternsCpu = bestPattern.index_select(0, index).cpu();
        Tensor lastMasksCpu = lastMask.index_select(0, index).cpu();
        Tensor lastPatternsCpu = lastPattern.index_select(0, index).cpu();
        float[][] masks = Enumerable.Range(0, Classes).Select(k => (useLast[k] ? lastMasksCpu : masksCpu)[k].data<float>().ToArray()).ToArray();
        float[][] patterns = Enumerable.Range(0, Classes).Select(k => (useLast[k] ? lastPatternsCpu : patternsCpu)[k].data<float>().ToArray()).ToArray();
        bool[] wasRefined = Enumerable.Range(0, Classes).Select(refined.Contains).ToArray();
        return new ReverseEngineeredTriggers(norms, attack, reached, masks, patterns, maskSample, sample, steps, wasRefined, starts, low, low + span);
    }

    public void Dispose()
    {
        foreach (Tensor t in new[] { sampleIndex, evaluation, maskParameter, patternParameter, maskFirst, maskSecond, patternFirst, patternSecond, bestMask, bestPattern })
        {
            t.Dispose();
        }

        contrastLabels?.Dispose();
        evaluationContrastLabels?.Dispose();

        foreach (Row row in rows)
        {
            row.Held?.Dispose();
        }
    }

    private static void Grow(ref Tensor tensor, Tensor rowsToAppend)
    {
        Tensor grown = torch.cat([tensor, rowsToAppend], 0).DetachFromDisposeScope();
        tensor.Dispose();
        tensor = grown;
    }

    private void Step(int[] active, bool check, IReadOnlySet<int> patient, int patience, int shortPatience)
    {
        using var stepScope = torch.NewDisposeScope();
        int batch = settings.SamplesPerClass;
        long perRow = batch * sample.Aggregate(1L, (a, b) => a * b);
        int chunk = (int)Math.Clamp(settings.ChunkElements / perRow, 1, active.Length);
        Tensor clean = evidence.Inputs.index_select(0, sampleIndex[Steps]).unsqueeze(0);
        var checkedRows = new List<int>();
        var checkedNorms = new List<float>();
        var checkedAttack = new List<float>();
        var checkedMasks = new List<Tensor>();
        var checkedPatterns = new List<Tensor>();
        for (int start = 0; start < active.Length; start += chunk)
        {
            // Each chunk's tensors (stamped inputs, logits, gradients) die with the chunk, not with the step: a step
            // of many chunks would otherwise hold all of them at once.
            using var chunkScope = torch.NewDisposeScope();
            int[] part = active[start..Math.Min(active.Length, start + chunk)];
            int count = part.Length;
            Tensor index = torch.tensor(part.Select(i => (long)i).ToArray()).to(evidence.Device);
            Tensor maskLeaf = maskParameter.index_select(0, index).requires_grad_(true);
            Tensor patternLeaf = patternParameter.index_select(0, index).requires_grad_(true);
            Tensor mask = TanhTrigger.Mask(maskLeaf);
            Tensor pattern = TanhTrigger.Pattern(patternLeaf, low, span);

            // [A, B, ...]: every row's trigger on the same B clean inputs.
            Tensor m = mask.unsqueeze(1);
            Tensor stamped = m.SubtractedFrom(1).mul(clean).Add(m * pattern.unsqueeze(1)).reshape([count * batch, .. sample]);
            Tensor targets = torch.tensor(part.Select(i => (long)rows[i].Class).ToArray()).to(evidence.Device).repeat_interleave(batch);
            Tensor logits = evidence.Model.Forward(stamped);
            Tensor crossEntropy = nn.functional.cross_entropy(logits, targets, reduction: nn.Reduction.None).reshape([count, batch]).mean([1L]);
            if (contrast is not null)
            {
                // Only moving the reference to the target is penalised, on inputs it does not already put there: the
                // reference may go anywhere else, so the term does not fight the audited model's own response.
                Tensor own = contrastLabels!.index_select(0, sampleIndex[Steps]).repeat(count);
                Tensor pTarget = nn.functional.softmax(contrast.Reference.Forward(stamped).flatten(1), 1).gather(1, targets.unsqueeze(1)).squeeze(1);
                Tensor away = pTarget.SubtractedFrom(1.0).ClampMin(1e-6).log().neg().mul(own.ne(targets).to_type(ScalarType.Float32));
                crossEntropy = crossEntropy.Add(away.reshape([count, batch]).mean([1L]).Mul(contrast.Weight));
            }

            Tensor norms = mask.reshape(count, -1).sum(1);
            Tensor cost = torch.tensor(part.Select(i => (float)rows[i].Cost).ToArray()).to(evidence.Device);

            // The cost multiplies the mean mask value (norm / positions), so one initial cost suits any input size;
            // the paper's 1e-3 on the L1 sum of a 28×28 mask corresponds to about 0.8 here.
            Tensor loss = crossEntropy.Add((cost * norms).Div(maskPositions)).sum();
            long backwardStart = Stopwatch.GetTimestamp();
            loss.backward();
            evidence.Timings?.Add(TimedPhase.TriggerBackward, Stopwatch.GetTimestamp() - backwardStart);

            if (check)
            {
                checkedRows.AddRange(part);
                checkedMasks.Add(mask.detach().MoveToOuterDisposeScope());
                checkedPatterns.Add(pattern.detach().MoveToOuterDisposeScope());
                checkedNorms.AddRange(norms.detach().cpu().data<float>().ToArray());
            }

            using var noGrad = torch.no_grad();
            foreach (int i in part)
            {
                rows[i].AdamSteps++;
            }

            Tensor stepCount = torch.tensor(part.Select(i => (float)rows[i].AdamSteps).ToArray()).to(evidence.Device);
            RowwiseAdam.Step(maskParameter, maskFirst, maskSecond, index, maskLeaf, stepCount, settings.LearningRate);
            RowwiseAdam.Step(patternParameter, patternFirst, patternSecond, index, patternLeaf, stepCount, settings.LearningRate);
        }

        if (!check)
        {
            return;
        }

        // One small read-back per round: attack rates and norms drive the cost schedule and early stop. The attack
        // rate is measured on a fixed held-out set, not on this step's few inputs: a mask that works on 16 lucky
        // inputs would otherwise be recorded as the class's smallest trigger, and the norms (hence the anomaly
        // index) would vary from seed to seed.
        Tensor allMasks = torch.cat(checkedMasks, 0);
        Tensor allPatterns = torch.cat(checkedPatterns, 0);
        Tensor classes = torch.tensor(checkedRows.Select(i => (long)rows[i].Class).ToArray()).to(evidence.Device);
        checkedAttack.AddRange(AttackRates(allMasks, allPatterns, classes).cpu().data<float>().ToArray());
        var improved = new List<long>();
        var improvedPositions = new List<long>();
        var held = new List<int>();
        for (int position = 0; position < checkedRows.Count; position++)
        {
            Row row = rows[checkedRows[position]];
            float norm = checkedNorms[position], attack = checkedAttack[position];
            row.LastNorm = norm;
            row.LastAttack = attack;
            bool works = attack >= settings.AttackThreshold;
            if (works && norm < row.Best)
            {
                row.Stale = norm < row.Best * 0.98 ? 0 : row.Stale + 1;
                row.Best = norm;
                row.BestAttack = attack;
                improved.Add(checkedRows[position]);
                improvedPositions.Add(position);
            }
            else
            {
                row.Stale++;
            }

            row.Up = works ? row.Up + 1 : 0;
            row.Down = works ? 0 : row.Down + 1;
            if (row.Up >= settings.CostPatience)
            {
                row.Cost *= 1.5;
                row.Up = 0;
            }
            else if (row.Down >= settings.CostPatience)
            {
                row.Cost /= Math.Pow(1.5, 1.5);
                row.Down = 0;
            }

            int own = patient.Contains(row.Class) ? patience : shortPatience;
            row.Stopped = double.IsFinite(row.Best) && row.Stale >= own;
            if (row.Stopped)
            {
                row.StoppedAt = Steps;
            }

            if (speculating && row.Held is null && double.IsFinite(row.Best) && row.Stale >= shortPatience)
            {
                held.Add(checkedRows[position]);
            }
        }

        using (torch.no_grad())
        {
            if (improved.Count > 0)
            {
                Tensor index = torch.tensor(improved.ToArray()).to(evidence.Device);
                Tensor positions = torch.tensor(improvedPositions.ToArray()).to(evidence.Device);
                bestMask.index_copy_(0, index, allMasks.index_select(0, positions));
                bestPattern.index_copy_(0, index, allPatterns.index_select(0, positions));
            }

            // After this check's updates: the state a non-candidate row would have stopped with.
            foreach (int i in held)
            {
                rows[i].Held = new HeldRow(rows[i], Steps, maskParameter[i], patternParameter[i], bestMask[i], bestPattern[i]);
            }
        }
    }

    /// <summary>Share of the evaluation inputs each row's trigger sends to its class, on the device, in memory-bounded chunks.</summary>
    private Tensor AttackRates(Tensor mask, Tensor pattern, Tensor classes)
    {
        using var noGrad = torch.no_grad();
        long count = mask.shape[0], n = evaluation.shape[0];
        long perRow = n * sample.Aggregate(1L, (a, b) => a * b);
        long chunk = Math.Clamp(settings.ChunkElements / perRow, 1, count);
        var parts = new List<Tensor>();
        for (long start = 0; start < count; start += chunk)
        {
            // One scope per chunk: at 43–100 rows the check runs dozens of forwards, whose stamped inputs would
            // otherwise all stay alive until the step ends.
            using var chunkScope = torch.NewDisposeScope();
            long size = Math.Min(chunk, count - start);
            Tensor m = mask.narrow(0, start, size).unsqueeze(1);
            Tensor stamped = m.SubtractedFrom(1).mul(evaluation.unsqueeze(0)).Add(m * pattern.narrow(0, start, size).unsqueeze(1)).reshape([size * n, .. sample]);
            Tensor predicted = evidence.Model.Forward(stamped).argmax(1).reshape(size, n);
            Tensor target = classes.narrow(0, start, size).unsqueeze(1);
            Tensor hit = predicted.eq(target);
            if (contrast is not null)
            {
                // A hit the reference shares (it moved to the target too) is a natural feature, not the implant's.
                Tensor referenceMoved = contrast.Reference.Forward(stamped).flatten(1).argmax(1).reshape(size, n).eq(target).logical_and(evaluationContrastLabels!.unsqueeze(0).ne(target));
                hit = hit.logical_and(referenceMoved.logical_not());
            }

            parts.Add(hit.to_type(ScalarType.Float32).mean([1L]).MoveToOuterDisposeScope());
        }

        return torch.cat(parts, 0);
    }

    /// <summary>One optimisation row's schedule state (class, start, λ, best working norm, counters).</summary>
    private sealed class Row(int @class, int start, double cost)
    {
        public int Class { get; } = @class;

        public int Start { get; } = start;

        public double Cost { get; set; } = cost;

        public double Best { get; set; } = double.PositiveInfinity;

        public double BestAttack { get; set; }

        public double LastNorm { get; set; } = double.PositiveInfinity;

        public double LastAttack { get; set; }

        public int Up { get; set; }

        public int Down { get; set; }

        public int Stale { get; set; }

        public int AdamSteps { get; set; }

        public bool Stopped { get; set; }

        /// <summary>The global step at whose check the row stopped.</summary>
        public int StoppedAt { get; set; } = -1;

        /// <summary>While speculating, the row's state when it first reached the short patience.</summary>
        public HeldRow? Held { get; set; }
    }

    /// <summary>A row's schedule state and tensors at one check, kept while speculating (copies, owned here).</summary>
    private sealed class HeldRow : IDisposable
    {
        private readonly double cost, best, bestAttack, lastNorm, lastAttack;
        private readonly int up, down, stale, adamSteps, step;

        public HeldRow(Row row, int step, Tensor mask, Tensor pattern, Tensor bestMask, Tensor bestPattern)
        {
            (cost, best, bestAttack, lastNorm, lastAttack) = (row.Cost, row.Best, row.BestAttack, row.LastNorm, row.LastAttack);
            (up, down, stale, adamSteps, this.step) = (row.Up, row.Down, row.Stale, row.AdamSteps, step);
            Mask = mask.clone().DetachFromDisposeScope();
            Pattern = pattern.clone().DetachFromDisposeScope();
            BestMask = bestMask.clone().DetachFromDisposeScope();
            BestPattern = bestPattern.clone().DetachFromDisposeScope();
        }

        public Tensor Mask { get; }

        public Tensor Pattern { get; }

        public Tensor BestMask { get; }

        public Tensor BestPattern { get; }

        /// <summary>Puts the row's schedule state back and stops it at the held check.</summary>
        public void Restore(Row row)
        {
            (row.Cost, row.Best, row.BestAttack, row.LastNorm, row.LastAttack) = (cost, best, bestAttack, lastNorm, lastAttack);
            (row.Up, row.Down, row.Stale, row.AdamSteps) = (up, down, stale, adamSteps);
            row.Stopped = true;
            row.StoppedAt = step;
        }

        public void Dispose()
        {
            Mask.Dispose();
            Pattern.Dispose();
            BestMask.Dispose();
            BestPattern.Dispose();
        }
    }
}
