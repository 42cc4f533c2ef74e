using System.Diagnostics;
using System.Globalization;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes.Trojans;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.ModelZoo;

/// <summary>
/// Learns the litmus probe's patterns and read-out (<see cref="LitmusModel"/>) on the zoo's shadow split only: the
/// patterns and a logistic read-out are optimised together (Adam) so that the shadow models' answers separate
/// backdoored from clean, with a total-variation penalty on the patterns (smooth patterns generalise; Kolouri et al.,
/// 2020) and a ridge on the read-out. A first training on four fifths of the shadow models is scored on the fifth it
/// left out (a sanity check recorded in the file); the final one uses them all, rounds the patterns to bytes and
/// refits the read-out on the rounded patterns' features. One libtorch thread and a seeded start: the same cache gives
/// the same file.
/// </summary>
internal sealed class ZooLitmus(ZooTrainer trainer)
{
    public const string DefaultOutput = "src/Audit.Evaluators/Probes/Trojans/LitmusModel.json";

    // Chosen before any training, from the papers' scale and this zoo's size, not tuned: eight patterns (ULP used 1–10),
    // canonical 3×32×32 (the zoo's largest input), 300 full-batch Adam steps at 0.05, total variation 0.1, ridge 1 as in
    // trojan-likelihood's fit.
    private static readonly int Patterns = Env("LITMUS_PATTERNS", 8), Size = Env("LITMUS_SIZE", 32), Steps = Env("LITMUS_STEPS", 300);
    private const int Channels = 3;
    private static readonly double LearningRate = 0.05, TotalVariation = Env("LITMUS_TV", 0.1), Ridge = Env("LITMUS_RIDGE", 1.0);

    private static int Env(string name, int fallback) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    private static double Env(string name, double fallback) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
    private const ulong Seed = 20_240_613;

    private sealed record Shadow(string Name, IDifferentiableModel Model, long Channels, long Height, long Width, float Low, float High, bool Backdoored);

    public int Run(IReadOnlyList<ZooRecipe> recipes, string output, CancellationToken cancellationToken)
    {
        torch.set_num_threads(1);
        var clock = Stopwatch.StartNew();
        List<Shadow> shadows = Load(recipes, cancellationToken);
        int clean = shadows.Count(s => !s.Backdoored), backdoored = shadows.Count(s => s.Backdoored);
        Console.WriteLine($"shadow models: {clean} clean, {backdoored} backdoored (loaded in {clock.Elapsed.TotalSeconds:F0} s)");

        if (Environment.GetEnvironmentVariable("LITMUS_CV") == "1")
        {
            var outOfFold = new double[shadows.Count];
            for (int fold = 0; fold < 5; fold++)
            {
                LitmusModel m = Train(shadows.Where((_, i) => i % 5 != fold).ToList(), $"fold {fold}", double.NaN, cancellationToken);
                for (int i = fold; i < shadows.Count; i += 5)
                {
                    outOfFold[i] = Score(m, shadows[i]);
                }
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"CV patterns {Patterns} size {Size} steps {Steps} tv {TotalVariation} ridge {Ridge}: out-of-fold AUROC {Auroc(outOfFold, shadows.Select(s => s.Backdoored).ToArray()):F3} ({clock.Elapsed.TotalSeconds:F0} s)"));
            return 0;
        }

        List<Shadow> fit = shadows.Where((_, i) => i % 5 != 4).ToList(), heldOut = shadows.Where((_, i) => i % 5 == 4).ToList();
        LitmusModel first = Train(fit, "hold-out check", double.NaN, cancellationToken);
        double[] heldOutScores = heldOut.Select(s => Score(first, s)).ToArray();
        double holdOutAuroc = Auroc(heldOutScores, heldOut.Select(s => s.Backdoored).ToArray());
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"hold-out fifth ({heldOut.Count} models): AUROC {holdOutAuroc:F3} ({clock.Elapsed.TotalSeconds:F0} s)"));

        LitmusModel final = Train(shadows, "all", holdOutAuroc, cancellationToken);
        double[] inSample = shadows.Select(s => Score(final, s)).ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"in-sample AUROC {Auroc(inSample, shadows.Select(s => s.Backdoored).ToArray()):F3} ({clock.Elapsed.TotalSeconds:F0} s)"));
        ZooTrainer.WriteAtomically(output, path => File.WriteAllText(path, final.FileText()));
        Console.WriteLine($"wrote {output} (sha256 {final.Fingerprint()})");
        return 0;
    }

    private List<Shadow> Load(IReadOnlyList<ZooRecipe> recipes, CancellationToken cancellationToken)
    {
        var shadows = new List<Shadow>();
        foreach (ZooRecipe recipe in recipes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ZooModel model = trainer.GetOrTrain(recipe);
            if (recipe.Backdoored && !model.Implanted)
            {
                continue; // a poisoned model whose backdoor did not take is neither clean nor backdoored
            }

            IDifferentiableModel graph = new OnnxModelSource(Path.Combine(trainer.ModelFolder, model.OnnxFile), ComputeDevice.Cpu).Load(cancellationToken);
            (float low, float high) = SafetensorsDataset.Read(trainer.Evidence(recipe)).Bounds();
            IReadOnlyList<long> shape = graph.Inputs[0].Shape;
            shadows.Add(new Shadow(recipe.Name, graph, shape[1], shape[2], shape[3], low, high, recipe.Backdoored));
        }

        return shadows;
    }

    private static Tensor Answers(Shadow shadow, Tensor canonical) =>
        shadow.Model.Forward(LitmusModel.ForInput(canonical, shadow.Channels, shadow.Height, shadow.Width, shadow.Low, shadow.High)).flatten(1);

    private static double Score(LitmusModel litmus, Shadow shadow)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        Tensor features = LitmusModel.Features(Answers(shadow, litmus.CanonicalPatterns()));
        return litmus.Logit(features.data<float>().Select(v => (double)v).ToArray());
    }

    private static LitmusModel Train(List<Shadow> shadows, string label, double holdOutAuroc, CancellationToken cancellationToken)
    {
        using var scope = torch.NewDisposeScope();
        int featureCount = LitmusModel.FeatureCount(Patterns);
        using var generator = new torch.Generator(Seed);
        var raw = new TorchSharp.Modules.Parameter(torch.randn([Patterns, Channels, Size, Size], generator: generator));
        var weights = new TorchSharp.Modules.Parameter(torch.zeros(featureCount));
        var intercept = new TorchSharp.Modules.Parameter(torch.zeros(1));
        Tensor labels = torch.tensor(shadows.Select(s => s.Backdoored ? 1f : 0f).ToArray());
        using var optimizer = torch.optim.Adam([raw, weights, intercept], lr: LearningRate);
        for (int step = 0; step < Steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var stepScope = torch.NewDisposeScope();
            optimizer.zero_grad();
            Tensor patterns = raw.sigmoid();
            Tensor features = torch.stack(shadows.Select(s => LitmusModel.Features(Answers(s, patterns))).ToArray());
            Tensor standardised = (features - features.mean([0L], keepdim: true)) / (features.std(0, keepdim: true, unbiased: false) + 1e-3f);
            Tensor logits = standardised.matmul(weights) + intercept;
            Tensor loss = nn.functional.binary_cross_entropy_with_logits(logits, labels)
                + (TotalVariation * TotalVariationOf(patterns))
                + (Ridge / shadows.Count * weights.square().sum());
            loss.backward();
            optimizer.step();
            if (step % 50 == 0 || step == Steps - 1)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {label}: step {step} loss {loss.item<float>():F4}"));
            }
        }

        // Round the patterns to what the file stores, then refit the read-out on the rounded patterns' features.
        string encoded = LitmusModel.Encode(raw.detach().sigmoid());
        var rounded = new LitmusModel("", Patterns, Channels, Size, encoded, [], [], [], 0, 0, 0, double.NaN, "");
        double[][] rows;
        using (torch.no_grad())
        {
            Tensor canonical = rounded.CanonicalPatterns();
            rows = shadows.Select(s => LitmusModel.Features(Answers(s, canonical)).data<float>().Select(v => (double)v).ToArray()).ToArray();
        }

        (double[] means, double[] scales, double[] coefficients, double fittedIntercept) = Logistic(rows, shadows.Select(s => s.Backdoored).ToArray());
        return new LitmusModel(
            $"{TimeProvider.System.GetUtcNow():yyyy-MM-ddTHH:mmZ} by tools/Audit.ModelZoo litmus",
            Patterns,
            Channels,
            Size,
            encoded,
            means,
            scales,
            coefficients,
            fittedIntercept,
            shadows.Count(s => !s.Backdoored),
            shadows.Count(s => s.Backdoored),
            holdOutAuroc,
            string.Create(CultureInfo.InvariantCulture, $"Adam {Steps} full-batch steps at {LearningRate}, total variation {TotalVariation}, ridge {Ridge}, seed {Seed}, one libtorch thread"));
    }

    /// <summary>Mean absolute difference between neighbouring pixels, across and down.</summary>
    private static Tensor TotalVariationOf(Tensor patterns) =>
        (patterns[.., .., 1.., ..] - patterns[.., .., ..^1, ..]).abs().mean() + (patterns[.., .., .., 1..] - patterns[.., .., .., ..^1]).abs().mean();

    /// <summary>Ridge logistic regression (the fit's Newton solver) on features standardised over the shadow models.</summary>
    private static (double[] Means, double[] Scales, double[] Coefficients, double Intercept) Logistic(double[][] rows, bool[] labels)
    {
        int d = rows[0].Length;
        double[] means = Enumerable.Range(0, d).Select(j => rows.Average(r => r[j])).ToArray();
        double[] scales = Enumerable.Range(0, d).Select(j => Math.Max(Math.Sqrt(rows.Average(r => Math.Pow(r[j] - means[j], 2))), 1e-6)).ToArray();
        double[][] x = rows.Select(r => r.Select((v, j) => (v - means[j]) / scales[j]).ToArray()).ToArray();
        (double[] coefficients, double intercept) = ZooFit.Logistic(x, labels.Select(b => b ? 1 : 0).ToArray(), Ridge);
        return (means, scales, coefficients, intercept);
    }

    private static double Auroc(double[] scores, bool[] positive) =>
        SurveyReport.Auroc(scores.Where((_, i) => positive[i]).ToList(), scores.Where((_, i) => !positive[i]).ToList());
}
