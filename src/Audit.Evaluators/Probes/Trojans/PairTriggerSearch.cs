using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>Settings of the (source, target) trigger search; part of the probe's outcome key through its parameters.</summary>
/// <param name="ScreeningSteps">Steps of the first pass every pair gets.</param>
/// <param name="RefineSteps">Most further steps of a refined pair.</param>
/// <param name="ScreeningSamples">Source inputs per pair and step in the first pass.</param>
/// <param name="RefineSamples">Source inputs per pair and step in refinement.</param>
/// <param name="CheckEvery">Steps between read-backs of attack rates and norms (cost schedule, early stop).</param>
/// <param name="EvaluationInputs">Most held-out inputs of a source on which a pair's attack rate is measured.</param>
/// <param name="AttackThreshold">Share of a source's evaluation inputs a trigger must send to the target to count as working.</param>
/// <param name="Seed">Seeds the per-step input draws, the evaluation sets and every row's start.</param>
/// <param name="ChunkElements">Most stamped input values per forward (besides the activation bound).</param>
internal sealed record PairSearchSettings(
    int ScreeningSteps,
    int RefineSteps,
    int ScreeningSamples,
    int RefineSamples,
    int CheckEvery,
    int EvaluationInputs,
    double AttackThreshold,
    int Seed,
    long ChunkElements)
{
    /// <summary>Adam's learning rate on the tanh-parametrised mask and pattern (as in the Neural Cleanse scan).</summary>
    public const double LearningRate = 0.1;

    /// <summary>Initial cost λ of the mean mask value (the Neural Cleanse scan's).</summary>
    public const double InitialCost = 1.0;

    /// <summary>Check rounds without a 2 % smaller working mask after which a candidate pair stops; basis pairs stop after half.</summary>
    public const int Patience = 4;
}

/// <summary>
/// Reverse-engineering of source-specific (label-specific) triggers: for each ordered pair (s, t) of classes, the
/// smallest mask m and pattern p such that (1 − m) ⊙ x + m ⊙ p sends inputs x <i>of class s</i> to t. The pair
/// formulation is K-Arm's (Shen et al., "Backdoor Scanning for Deep Neural Networks through K-Arm Optimization",
/// ICML 2021), who treat label-specific backdoors as (source, target) arms; Neural Cleanse (Wang et al., IEEE S&amp;P
/// 2019, §VI) discusses the source-specific case, whose trigger an all-to-one search misses because it must flip
/// every class.
/// </summary>
/// <remarks>
/// A pair's row sees only its source's inputs: each step draws a few of them (the same for every row of that source),
/// so the K(K − 1) rows of a step process K(K − 1) × B inputs (360 at ten classes and B = 4, against the all-to-one
/// scan's 160), not K(K − 1) times a Neural Cleanse row's. Rows are
/// optimised together in as few forwards as the memory bounds allow (<see cref="ClassifierEvidence.RowsPerForward"/>
/// with gradients, and <see cref="PairSearchSettings.ChunkElements"/>); each row has its own Adam moments and step
/// count, its own cost λ (Neural Cleanse's schedule: ×1.5 after a check where the trigger works, ÷1.5^1.5 after one
/// where it does not) and its own seeded start, so its trajectory does not depend on which rows share its forward.
/// Attack rates are measured on a fixed, seeded held-out subset of the source's inputs. The mask is shared across
/// channels; mask and pattern are tanh-parametrised, so the pattern stays inside the input bounds.
/// </remarks>
internal sealed class PairTriggerSearch : IDisposable
{
    private readonly ClassifierEvidence evidence;
    private readonly PairSearchSettings settings;
    private readonly long[] sample;
    private readonly long[] maskSample;
    private readonly HeapTrimmer trimmer = new();
    private readonly float low;
    private readonly float span;
    private readonly double maskPositions;

    // Per step and source, the positions (into the dataset) of the inputs drawn; per source, the evaluation inputs.
    private readonly long[][][] draws;
    private readonly Tensor[] evaluation;
    private readonly Row[] rows;

    private readonly Tensor maskParameter;
    private readonly Tensor patternParameter;
    private readonly Tensor maskFirst;
    private readonly Tensor maskSecond;
    private readonly Tensor patternFirst;
    private readonly Tensor patternSecond;
    private readonly Tensor bestMask;
    private readonly Tensor bestPattern;

    /// <summary>
    /// The class the model gives each clean input: the source of an input in a pair search (labels are optional, and a
    /// trigger is tested on what the model does with its source's inputs).
    /// </summary>
    public static long[] PredictedClasses(ClassifierEvidence evidence, CancellationToken cancellationToken)
    {
        using var scope = torch.NewDisposeScope();
        return evidence.Predict(evidence.Inputs, cancellationToken).cpu().data<long>().ToArray();
    }

    /// <summary>Per class, the dataset positions of the inputs the model gives it; none for a class given fewer than <paramref name="minimum"/>.</summary>
    public static long[][] Sources(long[] predicted, int classes, int minimum) =>
        [.. Enumerable.Range(0, classes).Select(k =>
        {
            long[] own = [.. Enumerable.Range(0, predicted.Length).Where(i => predicted[i] == k).Select(i => (long)i)];
            return own.Length >= minimum ? own : [];
        })];

    /// <param name="evidence">The model and clean inputs.</param>
    /// <param name="sources">Per class, the dataset positions of its inputs (empty: no pair of that source is searched).</param>
    /// <param name="pairs">The (source, target) rows, in a fixed order.</param>
    /// <param name="settings">Steps, samples, schedule and seed.</param>
    public PairTriggerSearch(ClassifierEvidence evidence, IReadOnlyList<long[]> sources, IReadOnlyList<(int Source, int Target)> pairs, PairSearchSettings settings)
    {
        this.evidence = evidence;
        this.settings = settings;
        sample = evidence.Inputs.shape[1..];
        maskSample = sample.Length >= 3 ? [1, .. sample[1..]] : sample;
        low = evidence.Low;
        span = evidence.High - evidence.Low;
        maskPositions = maskSample.Aggregate(1L, (a, b) => a * b);

        // Draws from one seeded System.Random in a fixed order: the same for any pair set, thread count or device.
        var random = new Random(settings.Seed);
        int steps = settings.ScreeningSteps + settings.RefineSteps;
        int most = Math.Max(settings.ScreeningSamples, settings.RefineSamples);
        draws = new long[steps][][];
        for (int step = 0; step < steps; step++)
        {
            draws[step] = new long[sources.Count][];
            for (int s = 0; s < sources.Count; s++)
            {
                long[] own = sources[s];
                draws[step][s] = own.Length == 0 ? [] : Enumerable.Range(0, most).Select(_ => own[random.Next(own.Length)]).ToArray();
            }
        }

        var held = new Random(unchecked(settings.Seed * 31 + 7));
        evaluation = sources.Select(own =>
        {
            long[] chosen = [.. own.OrderBy(_ => held.Next()).Take(settings.EvaluationInputs)];
            using var scope = torch.NewDisposeScope();
            return chosen.Length == 0
                ? torch.zeros([0, .. sample], device: evidence.Device).DetachFromDisposeScope()
                : evidence.Inputs.index_select(0, torch.tensor(chosen).to(evidence.Device)).DetachFromDisposeScope();
        }).ToArray();

        rows = [.. pairs.Select(p => new Row(p.Source, p.Target))];
        using (var scope = torch.NewDisposeScope())
        {
            var masks = new List<Tensor>();
            var patterns = new List<Tensor>();
            foreach (Row row in rows)
            {
                // Seeded by (seed, source, target) only, so a row starts the same whatever rows share the search.
                using var generator = new torch.Generator(unchecked((ulong)settings.Seed * 1_000_003UL + (ulong)row.Source * 65_537UL + (ulong)row.Target + 17UL));
                masks.Add(torch.randn([1, .. maskSample], generator: generator).Mul(0.1));
                patterns.Add(torch.randn([1, .. sample], generator: generator).Mul(0.1));
            }

            maskParameter = (masks.Count == 0 ? torch.zeros([0, .. maskSample]) : torch.cat(masks, 0)).to(evidence.Device).DetachFromDisposeScope();
            patternParameter = (patterns.Count == 0 ? torch.zeros([0, .. sample]) : torch.cat(patterns, 0)).to(evidence.Device).DetachFromDisposeScope();
        }

        maskFirst = torch.zeros_like(maskParameter).DetachFromDisposeScope();
        maskSecond = torch.zeros_like(maskParameter).DetachFromDisposeScope();
        patternFirst = torch.zeros_like(patternParameter).DetachFromDisposeScope();
        patternSecond = torch.zeros_like(patternParameter).DetachFromDisposeScope();
        bestMask = torch.zeros_like(maskParameter).DetachFromDisposeScope();
        bestPattern = torch.zeros_like(patternParameter).DetachFromDisposeScope();
    }

    /// <summary>Global steps taken so far.</summary>
    public int Steps { get; private set; }

    /// <summary>Number of (source, target) rows.</summary>
    public int Count => rows.Length;

    /// <summary>The first pass: every row for <see cref="PairSearchSettings.ScreeningSteps"/> steps, none stopped early.</summary>
    public void Screen(IProgress<double>? progress, CancellationToken cancellationToken)
    {
        int[] all = [.. Enumerable.Range(0, rows.Length)];
        Run(all, settings.ScreeningSteps, settings.ScreeningSamples, _ => int.MaxValue, progress, cancellationToken);
    }

    /// <summary>
    /// Refinement of <paramref name="refined"/> rows (indices) for up to <see cref="PairSearchSettings.RefineSteps"/>
    /// more steps; a row stops when its smallest working mask has not shrunk by 2 % for <see cref="PairSearchSettings.Patience"/>
    /// check rounds (half as many for rows not in <paramref name="candidates"/>: they only set the yardstick).
    /// </summary>
    public void Refine(IReadOnlyCollection<int> refined, IReadOnlySet<int> candidates, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        foreach (Row row in rows)
        {
            row.Stale = 0;
        }

        Run([.. refined.Order()], settings.ScreeningSteps + settings.RefineSteps, settings.RefineSamples, i => candidates.Contains(i) ? PairSearchSettings.Patience : PairSearchSettings.Patience / 2, progress, cancellationToken);
    }

    /// <summary>Per row, the smallest working mask's L1 norm, or the last mask's when none worked (an upper bound).</summary>
    public double[] Norms() => [.. rows.Select(r => double.IsFinite(r.Best) ? r.Best : r.LastNorm)];

    /// <summary>Per row, whether its trigger ever reached the attack threshold.</summary>
    public bool[] Reached() => [.. rows.Select(r => double.IsFinite(r.Best))];

    /// <summary>Per row, the attack rate of the trigger whose norm <see cref="Norms"/> reports.</summary>
    public double[] AttackRates() => [.. rows.Select(r => double.IsFinite(r.Best) ? r.BestAttack : r.LastAttack)];

    /// <summary>Per row, Adam steps taken.</summary>
    public int[] RowSteps() => [.. rows.Select(r => r.AdamSteps)];

    /// <summary>Row <paramref name="index"/>'s smallest working mask (else its last) and pattern, flattened, on the CPU.</summary>
    public (float[] Mask, float[] Pattern, long[] MaskShape, long[] PatternShape) Trigger(int index)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        bool best = double.IsFinite(rows[index].Best);
        Tensor mask = best ? bestMask[index] : TanhTrigger.Mask(maskParameter[index]);
        Tensor pattern = best ? bestPattern[index] : TanhTrigger.Pattern(patternParameter[index], low, span);
        return (mask.cpu().data<float>().ToArray(), pattern.cpu().data<float>().ToArray(), maskSample, sample);
    }

    public void Dispose()
    {
        foreach (Tensor t in new[] { maskParameter, patternParameter, maskFirst, maskSecond, patternFirst, patternSecond, bestMask, bestPattern }.Concat(evaluation))
        {
            t.Dispose();
        }
    }

    private void Run(int[] selected, int untilStep, int batch, Func<int, int> patience, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        int from = Steps;
        for (; Steps < untilStep; Steps++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int[] active = [.. selected.Where(i => !rows[i].Stopped)];
            if (active.Length == 0)
            {
                break;
            }

            bool check = (Steps + 1) % settings.CheckEvery == 0;
            Step(active, batch);
            if (check)
            {
                Check(active, patience);
            }

            // Every step, as the all-to-one search does (TriggerReverseEngineering): a no-op below the line and until
            // the process has grown past what the last trim left.
            trimmer.TrimWhenGrown();

            progress?.Report((double)(Steps + 1 - from) / Math.Max(1, untilStep - from));
        }
    }

    private void Step(int[] active, int batch)
    {
        using var stepScope = torch.NewDisposeScope();
        long perRow = batch * sample.Aggregate(1L, (a, b) => a * b);
        int byActivations = Math.Max(1, evidence.RowsPerForward(active.Length * batch, factor: 2) / batch);
        int chunk = (int)Math.Clamp(Math.Min(settings.ChunkElements / perRow, byActivations), 1, active.Length);
        for (int start = 0; start < active.Length; start += chunk)
        {
            using var chunkScope = torch.NewDisposeScope();
            int[] part = active[start..Math.Min(active.Length, start + chunk)];
            int count = part.Length;
            Tensor index = torch.tensor(part.Select(i => (long)i).ToArray()).to(evidence.Device);
            long[] positions = [.. part.SelectMany(i => draws[Steps][rows[i].Source].Take(batch))];
            Tensor clean = evidence.Inputs.index_select(0, torch.tensor(positions).to(evidence.Device)).reshape([count, batch, .. sample]);
            Tensor maskLeaf = maskParameter.index_select(0, index).requires_grad_(true);
            Tensor patternLeaf = patternParameter.index_select(0, index).requires_grad_(true);
            Tensor mask = TanhTrigger.Mask(maskLeaf);
            Tensor pattern = TanhTrigger.Pattern(patternLeaf, low, span);
            Tensor m = mask.unsqueeze(1);
            Tensor stamped = m.SubtractedFrom(1).mul(clean).Add(m * pattern.unsqueeze(1)).reshape([count * batch, .. sample]);
            Tensor targets = torch.tensor(part.Select(i => (long)rows[i].Target).ToArray()).to(evidence.Device).repeat_interleave(batch);
            Tensor logits = evidence.Model.Forward(stamped);
            Tensor crossEntropy = nn.functional.cross_entropy(logits, targets, reduction: nn.Reduction.None).reshape([count, batch]).mean([1L]);
            Tensor norms = mask.reshape(count, -1).sum(1);
            Tensor cost = torch.tensor(part.Select(i => (float)rows[i].Cost).ToArray()).to(evidence.Device);

            // λ multiplies the mean mask value, so one initial cost suits any input size (as in the all-to-one scan).
            crossEntropy.Add((cost * norms).Div(maskPositions)).sum().backward();
            using var noGrad = torch.no_grad();
            foreach (int i in part)
            {
                rows[i].AdamSteps++;
            }

            Tensor stepCount = torch.tensor(part.Select(i => (float)rows[i].AdamSteps).ToArray()).to(evidence.Device);
            RowwiseAdam.Step(maskParameter, maskFirst, maskSecond, index, maskLeaf, stepCount, PairSearchSettings.LearningRate);
            RowwiseAdam.Step(patternParameter, patternFirst, patternSecond, index, patternLeaf, stepCount, PairSearchSettings.LearningRate);
        }
    }

    /// <summary>Reads back the active rows' attack rates (on their source's held-out inputs) and norms; adjusts λ, keeps the best, stops stale rows.</summary>
    private void Check(int[] active, Func<int, int> patience)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        Tensor index = torch.tensor(active.Select(i => (long)i).ToArray()).to(evidence.Device);
        Tensor masks = TanhTrigger.Mask(maskParameter.index_select(0, index));
        Tensor patterns = TanhTrigger.Pattern(patternParameter.index_select(0, index), low, span);
        float[] norms = masks.reshape(active.Length, -1).sum(1).cpu().data<float>().ToArray();
        double[] attack = new double[active.Length];

        // Rows of one source share its evaluation inputs; forwards stay within the activation bound.
        foreach (IGrouping<int, int> group in Enumerable.Range(0, active.Length).GroupBy(a => rows[active[a]].Source))
        {
            Tensor inputs = evaluation[group.Key];
            long n = inputs.shape[0];
            if (n == 0)
            {
                continue;
            }

            int[] members = [.. group];
            int perForward = Math.Max(1, (int)Math.Min(evidence.RowsPerForward(members.Length * (int)n) / n, settings.ChunkElements / (n * sample.Aggregate(1L, (a, b) => a * b))));
            for (int start = 0; start < members.Length; start += perForward)
            {
                using var chunkScope = torch.NewDisposeScope();
                int[] part = members[start..Math.Min(members.Length, start + perForward)];
                Tensor positions = torch.tensor(part.Select(a => (long)a).ToArray()).to(evidence.Device);
                Tensor m = masks.index_select(0, positions).unsqueeze(1);
                Tensor stamped = m.SubtractedFrom(1).mul(inputs.unsqueeze(0)).Add(m * patterns.index_select(0, positions).unsqueeze(1)).reshape([part.Length * n, .. sample]);
                Tensor predicted = evidence.Model.Forward(stamped).argmax(1).reshape(part.Length, n);
                Tensor targets = torch.tensor(part.Select(a => (long)rows[active[a]].Target).ToArray()).to(evidence.Device).unsqueeze(1);
                float[] rates = predicted.eq(targets).to_type(ScalarType.Float32).mean([1L]).cpu().data<float>().ToArray();
                for (int j = 0; j < part.Length; j++)
                {
                    attack[part[j]] = rates[j];
                }
            }
        }

        var improved = new List<long>();
        var improvedAt = new List<long>();
        for (int a = 0; a < active.Length; a++)
        {
            Row row = rows[active[a]];
            row.LastNorm = norms[a];
            row.LastAttack = attack[a];
            bool works = attack[a] >= settings.AttackThreshold;
            if (works && norms[a] < row.Best)
            {
                row.Stale = norms[a] < row.Best * 0.98 ? 0 : row.Stale + 1;
                row.Best = norms[a];
                row.BestAttack = attack[a];
                improved.Add(active[a]);
                improvedAt.Add(a);
            }
            else
            {
                row.Stale++;
            }

            row.Cost = works ? row.Cost * 1.5 : row.Cost / Math.Pow(1.5, 1.5);
            row.Stopped = double.IsFinite(row.Best) && row.Stale >= patience(active[a]);
        }

        if (improved.Count > 0)
        {
            Tensor at = torch.tensor(improvedAt.ToArray()).to(evidence.Device);
            Tensor into = torch.tensor(improved.ToArray()).to(evidence.Device);
            bestMask.index_copy_(0, into, masks.index_select(0, at));
            bestPattern.index_copy_(0, into, patterns.index_select(0, at));
        }
    }

    /// <summary>One (source, target) row's schedule state.</summary>
    private sealed class Row(int source, int target)
    {
        public int Source { get; } = source;

        public int Target { get; } = target;

        public double Cost { get; set; } = PairSearchSettings.InitialCost;

        public double Best { get; set; } = double.PositiveInfinity;

        public double BestAttack { get; set; }

        public double LastNorm { get; set; } = double.PositiveInfinity;

        public double LastAttack { get; set; }

        public int Stale { get; set; }

        public int AdamSteps { get; set; }

        public bool Stopped { get; set; }
    }
}
