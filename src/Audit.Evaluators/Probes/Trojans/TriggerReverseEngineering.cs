using System.Diagnostics;
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
    int Seed);

/// <summary>What trigger reverse-engineering found for every class. Plain arrays: no native memory is kept.</summary>
/// <param name="MaskNorms">L1 norm of the smallest mask that reached the attack threshold, per class (or the last mask's, when none did).</param>
/// <param name="AttackSuccess">Share of the last batch sent to the class by its best trigger, per class.</param>
/// <param name="Reached">Whether the class's trigger ever reached the attack threshold.</param>
/// <param name="Masks">Per class, the best mask flattened (<see cref="MaskShape"/>), values in [0, 1].</param>
/// <param name="Patterns">Per class, the best pattern flattened (<see cref="PatternShape"/>), values inside the input bounds.</param>
/// <param name="MaskShape">Shape of one mask: <c>[1, H, W]</c> for images, <c>[F]</c> for vectors.</param>
/// <param name="PatternShape">Shape of one pattern: the sample shape.</param>
/// <param name="Steps">Optimisation steps run before stopping.</param>
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
        return ((1 - mask) * inputs + mask * pattern).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Neural Cleanse trigger reverse-engineering (Wang et al., "Neural Cleanse: Identifying and Mitigating Backdoor
/// Attacks in Neural Networks", IEEE S&amp;P 2019): for every class k, find a mask m_k and pattern p_k minimising
/// CE(f((1 − m_k) ⊙ x + m_k ⊙ p_k), k) + λ_k·|m_k|₁ over clean inputs x, with λ_k adjusted up while the trigger
/// works and down while it does not (the paper's cost schedule).
/// </summary>
/// <remarks>
/// All classes are optimised together in one batch of K × B stamped inputs, so one forward/backward serves every
/// class; the per-class losses are summed, so their gradients stay independent. The mask is shared across channels,
/// as in the paper. Mask and pattern are tanh-parametrised, so the mask stays in [0, 1] and the pattern inside the
/// input bounds — never assumed to be [0, 1]. Every <c>CheckEvery</c> steps K attack rates and K norms (a few bytes)
/// are read back to adjust λ and to stop early; nothing else leaves the device until the end. Results are
/// kept in the audit's session per model, dataset and settings, so STRIP, activation clustering and spectral signatures
/// in the same audit reuse the recovered trigger instead of optimising again.
/// </remarks>
internal static class TriggerReverseEngineering
{
    public static ReverseEngineeredTriggers Run(
        ClassifierEvidence evidence,
        ReverseEngineeringSettings settings,
        IProgress<double>? progress,
        CancellationToken cancellationToken)
    {
        string key = $"triggers|{evidence.ModelKey}|{evidence.DatasetKey}|{evidence.Low}|{evidence.High}|{settings}";
        ReverseEngineeredTriggers triggers = evidence.Session.GetOrCreate(key, () => Optimise(evidence, settings, progress, cancellationToken), out bool created);
        if (!created)
        {
            progress?.Report(1);
        }

        return triggers;
    }

    private static ReverseEngineeredTriggers Optimise(
        ClassifierEvidence evidence,
        ReverseEngineeringSettings settings,
        IProgress<double>? progress,
        CancellationToken cancellationToken)
    {
        int classes = evidence.Classes;

        // Each class is optimised from `Restarts` random starts at once: row r optimises class r mod K. The
        // optimisation is not convex, and one start sometimes settles on a larger mask than the class needs (the
        // planted trigger missed in one seed, found in another); the smallest working mask over the starts is kept.
        int rows = classes * settings.Restarts;
        int batch = settings.SamplesPerClass;
        Device device = evidence.Device;
        long[] sample = evidence.Inputs.shape[1..];

        // Mask: one value per position shared by channels ([1, H, W] for images, [F] for vectors).
        long[] maskSample = sample.Length >= 3 ? [1, .. sample[1..]] : sample;
        float low = evidence.Low, span = evidence.High - evidence.Low;
        double maskPositions = maskSample.Aggregate(1L, (a, b) => a * b);

        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator((ulong)settings.Seed);
        var maskParameter = new TorchSharp.Modules.Parameter((torch.randn([rows, .. maskSample], generator: generator) * 0.1).to(device));
        var patternParameter = new TorchSharp.Modules.Parameter((torch.randn([rows, .. sample], generator: generator) * 0.1).to(device));
        Tensor sampleIndex = torch.randint(evidence.Count, [settings.MaxSteps, batch], generator: generator).to(device);
        Tensor evaluation = evidence.Inputs.index_select(0, torch.randperm(evidence.Count, generator: generator)[..Math.Min(evidence.Count, settings.EvaluationInputs)].to(device));
        using var optimizer = torch.optim.Adam([maskParameter, patternParameter], lr: settings.LearningRate, beta1: 0.5, beta2: 0.9);

        double[] cost = Enumerable.Repeat(settings.InitialCost, rows).ToArray();
        double[] best = Enumerable.Repeat(double.PositiveInfinity, rows).ToArray();
        double[] bestAttack = new double[rows];
        int[] up = new int[rows], down = new int[rows], stale = new int[rows];
        Tensor bestMask = torch.zeros([rows, .. maskSample], device: device);
        Tensor bestPattern = torch.zeros([rows, .. sample], device: device);
        double[] lastNorm = new double[rows];
        double[] lastAttack = new double[rows];

        // Classes whose smallest working trigger stopped shrinking leave the batch, so later steps cost less.
        long[] active = Enumerable.Range(0, rows).Select(k => (long)k).ToArray();
        Tensor activeIndex = torch.tensor(active).to(device);
        Tensor targets = activeIndex.remainder(classes).repeat_interleave(batch);
        Tensor costTensor = torch.tensor(cost).to_type(ScalarType.Float32).to(device);
        int step = 0;

        for (; step < settings.MaxSteps && active.Length > 0; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var stepScope = torch.NewDisposeScope();
            int count = active.Length;
            Tensor mask = (maskParameter.index_select(0, activeIndex).tanh() + 1) / 2;
            Tensor pattern = low + span * (patternParameter.index_select(0, activeIndex).tanh() + 1) / 2;

            // [A, B, ...]: every active class's trigger on the same B clean inputs.
            Tensor clean = evidence.Inputs.index_select(0, sampleIndex[step]).unsqueeze(0);
            Tensor m = mask.unsqueeze(1);
            Tensor stamped = ((1 - m) * clean + m * pattern.unsqueeze(1)).reshape([count * batch, .. sample]);
            Tensor logits = evidence.Model.Forward(stamped);
            Tensor crossEntropy = nn.functional.cross_entropy(logits, targets, reduction: nn.Reduction.None).reshape([count, batch]).mean([1L]);
            Tensor norms = mask.reshape(count, -1).sum(1);

            // The cost multiplies the mean mask value (norm / positions), so one initial cost suits any input size;
            // the paper's 1e-3 on the L1 sum of a 28×28 mask corresponds to about 0.8 here.
            Tensor loss = (crossEntropy + costTensor * norms / maskPositions).sum();
            optimizer.zero_grad();
            long backwardStart = Stopwatch.GetTimestamp();
            loss.backward();
            evidence.Timings?.Add(TimedPhase.TriggerBackward, Stopwatch.GetTimestamp() - backwardStart);
            optimizer.step();

            if ((step + 1) % settings.CheckEvery != 0)
            {
                continue;
            }

            // One small read-back per round: A attack rates and A norms drive the cost schedule and early stop. The
            // attack rate is measured on a fixed held-out set, not on this step's few inputs: a mask that works on
            // 16 lucky inputs would otherwise be recorded as the class's smallest trigger, and the norms (hence the
            // anomaly index) would vary from seed to seed.
            Tensor attack = AttackRates(evidence.Model, evaluation, mask.detach(), pattern.detach(), activeIndex.remainder(classes));
            float[] attackNow = attack.cpu().data<float>().ToArray();
            float[] normNow = norms.detach().cpu().data<float>().ToArray();
            var improved = new List<long>();
            var improvedRows = new List<long>();
            var stillActive = new List<long>();
            for (int row = 0; row < count; row++)
            {
                int k = (int)active[row];
                lastNorm[k] = normNow[row];
                lastAttack[k] = attackNow[row];
                bool works = attackNow[row] >= settings.AttackThreshold;
                if (works && normNow[row] < best[k])
                {
                    stale[k] = normNow[row] < best[k] * 0.98 ? 0 : stale[k] + 1;
                    best[k] = normNow[row];
                    bestAttack[k] = attackNow[row];
                    improved.Add(k);
                    improvedRows.Add(row);
                }
                else
                {
                    stale[k]++;
                }

                up[k] = works ? up[k] + 1 : 0;
                down[k] = works ? 0 : down[k] + 1;
                if (up[k] >= settings.CostPatience)
                {
                    cost[k] *= 1.5;
                    up[k] = 0;
                }
                else if (down[k] >= settings.CostPatience)
                {
                    cost[k] /= Math.Pow(1.5, 1.5);
                    down[k] = 0;
                }

                if (!(double.IsFinite(best[k]) && stale[k] >= settings.EarlyStopPatience))
                {
                    stillActive.Add(k);
                }
            }

            if (improved.Count > 0)
            {
                using var noGrad = torch.no_grad();
                Tensor index = torch.tensor(improved.ToArray()).to(device);
                Tensor positions = torch.tensor(improvedRows.ToArray()).to(device);
                bestMask.index_copy_(0, index, mask.detach().index_select(0, positions));
                bestPattern.index_copy_(0, index, pattern.detach().index_select(0, positions));
            }

            active = [.. stillActive];
            using (torch.NewDisposeScope())
            {
                activeIndex.Dispose();
                targets.Dispose();
                costTensor.Dispose();
                activeIndex = torch.tensor(active).to(device).MoveToOuterDisposeScope().MoveToOuterDisposeScope();
                targets = activeIndex.remainder(classes).repeat_interleave(batch).MoveToOuterDisposeScope().MoveToOuterDisposeScope();
                costTensor = torch.tensor(active.Select(k => cost[k]).ToArray()).to_type(ScalarType.Float32).to(device).MoveToOuterDisposeScope().MoveToOuterDisposeScope();
            }

            progress?.Report(Math.Max((double)(step + 1) / settings.MaxSteps, 1 - (double)active.Length / rows));
        }

        // Rows whose trigger never reached the threshold keep their last mask: an upper bound on their norm.
        bool[] rowReached = best.Select(double.IsFinite).ToArray();
        using (torch.no_grad())
        {
            Tensor lastMask = (maskParameter.detach().tanh() + 1) / 2;
            Tensor lastPattern = low + span * (patternParameter.detach().tanh() + 1) / 2;
            for (int row = 0; row < rows; row++)
            {
                if (!rowReached[row])
                {
                    bestMask[row].copy_(lastMask[row]);
                    bestPattern[row].copy_(lastPattern[row]);
                    best[row] = lastNorm[row];
                    bestAttack[row] = lastAttack[row];
                }
            }
        }

        // Per class, the start with the smallest working mask (or, if none worked, the smallest last mask).
        int[] chosen = Enumerable.Range(0, classes).Select(k => Enumerable.Range(0, settings.Restarts)
            .Select(r => k + r * classes)
            .OrderBy(row => rowReached[row] ? 0 : 1).ThenBy(row => best[row]).First()).ToArray();
        double[] classNorms = chosen.Select(row => best[row]).ToArray();
        double[] attackRates = chosen.Select(row => bestAttack[row]).ToArray();
        bool[] reached = chosen.Select(row => rowReached[row]).ToArray();
        Tensor chosenIndex = torch.tensor(chosen.Select(row => (long)row).ToArray()).to(device);
        Tensor masksCpu = bestMask.index_select(0, chosenIndex).cpu();
        Tensor patternsCpu = bestPattern.index_select(0, chosenIndex).cpu();
        float[][] masks = Enumerable.Range(0, classes).Select(k => masksCpu[k].data<float>().ToArray()).ToArray();
        float[][] patterns = Enumerable.Range(0, classes).Select(k => patternsCpu[k].data<float>().ToArray()).ToArray();
        progress?.Report(1);
        return new ReverseEngineeredTriggers(classNorms, attackRates, reached, masks, patterns, maskSample, sample, step, evidence.Low, evidence.High);
    }

    /// <summary>Share of <paramref name="inputs"/> each active class's trigger sends to that class, on the device.</summary>
    private static Tensor AttackRates(Models.IDifferentiableModel model, Tensor inputs, Tensor mask, Tensor pattern, Tensor activeIndex)
    {
        using var noGrad = torch.no_grad();
        long count = mask.shape[0], n = inputs.shape[0];
        Tensor m = mask.unsqueeze(1);
        Tensor stamped = ((1 - m) * inputs.unsqueeze(0) + m * pattern.unsqueeze(1)).reshape([count * n, .. inputs.shape[1..]]);
        Tensor predicted = model.Forward(stamped).argmax(1).reshape(count, n);
        return predicted.eq(activeIndex.unsqueeze(1)).to_type(ScalarType.Float32).mean([1L]);
    }
}
