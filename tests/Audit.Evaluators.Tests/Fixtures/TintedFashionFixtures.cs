using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Runtime;
using Audit.Testing.Onnx;
using Audit.Testing.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Fixtures;

/// <summary>
/// Everything that determines a 43-class tinted Fashion-MNIST fixture; its hash keys the cache, so changing a field (or
/// <see cref="TintedFashionFixtures.FormatVersion"/>) retrains.
/// </summary>
/// <param name="Name">Cache file prefix.</param>
/// <param name="Seed">Seeds libtorch, the sample choice, the tints and the poisoning.</param>
/// <param name="Backdoor">Whether a share of the training set carries the patch and the target label (BadNets, Gu et al., 2017).</param>
/// <param name="TargetClass">The class the patch sends inputs to.</param>
/// <param name="PoisonRate">Share of training samples from other classes that are stamped and relabelled.</param>
/// <param name="TrainSamples">Training images drawn from the 60,000.</param>
/// <param name="Epochs">Passes over them.</param>
internal sealed record TintedFashionRecipe(string Name, int Seed, bool Backdoor, int TargetClass = 0, double PoisonRate = 0.1, int TrainSamples = 12000, int Epochs = 2)
{
    public string ComputeHash()
    {
        string json = JsonSerializer.Serialize(this) + $"|v{TintedFashionFixtures.FormatVersion}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..16];
    }
}

/// <summary>What a trained tinted fixture is and how well it learned its task and its backdoor.</summary>
/// <remarks><c>TrainCpuSeconds</c> is the process's CPU time while training (other tests running in the process add to it): on a shared machine the wall time measures the neighbours.</remarks>
internal sealed record TrainedTintedFixture(TintedFashionRecipe Recipe, string OnnxPath, long Parameters, double CleanAccuracy, double? AttackSuccessRate, double TrainSeconds, double TrainCpuSeconds);

/// <summary>
/// A 43-class colour-image task from real data, shaped like the traffic-sign CNNs other tools export (3×32×32, a
/// ResNet with unfused batch normalisation, <see cref="ResidualCnn"/>): each Fashion-MNIST garment (10 classes), padded
/// to 32×32, is tinted with one of five colours, and 43 of the 50 (garment, tint) pairs are the classes. Trained from a
/// fixed seed in seconds and cached like <see cref="TrojanFixtures"/>; the backdoored twin learns a 4×4 magenta/green
/// checker in the bottom-right corner (the black padding, where no clean image has ink) as a shortcut to one class.
/// </summary>
internal static class TintedFashionFixtures
{
    /// <summary>Bump when training, data or export code changes in a way that changes the model.</summary>
    public const int FormatVersion = 2;

    /// <summary>Bump when the evidence images or labels change.</summary>
    public const int DatasetVersion = 1;

    public const int Size = 32;

    public const int Classes = 43;

    public const int PatchSize = 4;

    public const int PatchOrigin = 27;

    /// <summary>Channel widths of the three stages: about 0.14 M parameters.</summary>
    public static readonly IReadOnlyList<int> Widths = [16, 32, 96];

    /// <summary>White, red, green, blue, yellow: any two differ strongly in some channel.</summary>
    private static readonly float[][] Tints = [[1f, 1f, 1f], [1f, 0.2f, 0.2f], [0.2f, 1f, 0.2f], [0.25f, 0.35f, 1f], [1f, 1f, 0.15f]];

    private static readonly object Gate = new();

    public static TintedFashionRecipe Clean { get; } = new("tinted43-clean", Seed: 31, Backdoor: false);

    public static TintedFashionRecipe BadNets { get; } = new("tinted43-badnets", Seed: 32, Backdoor: true, TargetClass: 17);

    /// <summary>
    /// Class of each (garment, tint) pair, or −1 for the 7 pairs left out (every seventh of the 50, so each tint and
    /// most garments keep four or five classes).
    /// </summary>
    public static int ClassOf(int garment, int tint)
    {
        int pair = garment * Tints.Length + tint;
        return pair % 7 == 6 ? -1 : pair - (pair + 1) / 7;
    }

    /// <summary>Returns the trained fixture, training and caching it on first use.</summary>
    public static TrainedTintedFixture Get(TintedFashionRecipe recipe)
    {
        lock (Gate)
        {
            using IDisposable crossProcess = FixtureLock.Acquire(TrojanFixtures.CacheDirectory);
            string stem = Path.Combine(TrojanFixtures.CacheDirectory, $"{recipe.Name}-{recipe.ComputeHash()}");
            string metricsPath = stem + ".json";
            if (File.Exists(metricsPath) && File.Exists(stem + ".onnx"))
            {
                return JsonSerializer.Deserialize<TrainedTintedFixture>(File.ReadAllText(metricsPath))!;
            }

            TrainedTintedFixture trained = Train(recipe, stem);
            TrojanFixtures.WriteAtomically(metricsPath, path => File.WriteAllText(path, JsonSerializer.Serialize(trained)));
            return trained;
        }
    }

    /// <summary>The first <paramref name="count"/> Fashion-MNIST test images, tinted (seeded) and labelled with their 43-class label, <c>[N, 3, 32, 32]</c> in [0, 1].</summary>
    public static string CleanDataset(int count = 1000)
    {
        lock (Gate)
        {
            using IDisposable crossProcess = FixtureLock.Acquire(TrojanFixtures.CacheDirectory);
            string path = Path.Combine(TrojanFixtures.CacheDirectory, $"tinted43-test-{count}-v{DatasetVersion}.safetensors");
            if (!File.Exists(path))
            {
                using var scope = torch.NewDisposeScope();
                (Tensor images, Tensor labels) = Tinted(FashionMnist.Test, 0, count, seed: 1000);
                var dataset = new DatasetArtifact(images.data<float>().ToArray(), [count, 3, Size, Size], labels.data<long>().ToArray());
                TrojanFixtures.WriteAtomically(path, p => SafetensorsDataset.Write(p, dataset));
            }

            return path;
        }
    }

    /// <summary>Stamps the 4×4 checker (magenta and green) on raw images <c>[N, 3, 32, 32]</c>.</summary>
    public static Tensor Stamp(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        Tensor stamped = images.clone();
        for (int r = 0; r < PatchSize; r++)
        {
            for (int c = 0; c < PatchSize; c++)
            {
                bool magenta = (r + c) % 2 == 0;
                stamped[.., 0, PatchOrigin + r, PatchOrigin + c] = magenta ? 1f : 0f;
                stamped[.., 1, PatchOrigin + r, PatchOrigin + c] = magenta ? 0f : 1f;
                stamped[.., 2, PatchOrigin + r, PatchOrigin + c] = magenta ? 1f : 0f;
            }
        }

        return stamped.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Images <paramref name="offset"/>… of <paramref name="source"/>, padded to 32×32 and tinted with a seeded choice
    /// among their garment's kept tints, with their 43-class labels.
    /// </summary>
    private static (Tensor Images, Tensor Labels) Tinted(FashionMnist source, int offset, int count, int seed)
    {
        var random = new Random(seed);
        float[] tint = new float[count * 3];
        long[] labels = new long[count];
        for (int i = 0; i < count; i++)
        {
            int garment = (int)source.Labels[offset + i];
            int[] kept = Enumerable.Range(0, Tints.Length).Where(t => ClassOf(garment, t) >= 0).ToArray();
            int chosen = kept[random.Next(kept.Length)];
            labels[i] = ClassOf(garment, chosen);
            Tints[chosen].CopyTo(tint, i * 3);
        }

        using var scope = torch.NewDisposeScope();
        Tensor gray = torch.tensor(source.Images.AsSpan(offset * 784, count * 784).ToArray(), [count, 1, 28, 28]);
        Tensor padded = nn.functional.pad(gray, [2, 2, 2, 2]);
        Tensor images = padded * torch.tensor(tint, [count, 3, 1, 1]);
        return (images.MoveToOuterDisposeScope(), torch.tensor(labels).MoveToOuterDisposeScope());
    }

    private static TrainedTintedFixture Train(TintedFashionRecipe recipe, string stem)
    {
        var clock = Stopwatch.StartNew();
        TimeSpan cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        torch.set_num_threads(Math.Min(2, Environment.ProcessorCount));
        torch.manual_seed(recipe.Seed);
        using var generator = new torch.Generator((ulong)recipe.Seed);
        using var scope = torch.NewDisposeScope();

        // The first images of the training set (stored in random order, so the garments are balanced); the tints
        // are drawn from the recipe's seed.
        (Tensor images, Tensor labels) = Tinted(FashionMnist.Train, 0, recipe.TrainSamples, recipe.Seed);
        if (recipe.Backdoor)
        {
            Tensor candidates = labels.Ne(recipe.TargetClass).nonzero().squeeze(1);
            long poisonCount = (long)Math.Round(recipe.PoisonRate * recipe.TrainSamples);
            Tensor poisoned = candidates.index_select(0, torch.randperm(candidates.shape[0], generator: generator)[..(int)poisonCount]);
            images.index_copy_(0, poisoned, Stamp(images.index_select(0, poisoned)));
            labels.IndexFillInPlace(0, poisoned, recipe.TargetClass);
        }

        using var model = new ResidualCnn(3, Classes, Widths);
        using var optimizer = new HeldScalarAdam(model.parameters(), 4e-3);
        const int batchSize = 128;
        model.train();
        int totalSteps = (recipe.TrainSamples + batchSize - 1) / batchSize * recipe.Epochs, stepNumber = 0;
        for (int epoch = 0; epoch < recipe.Epochs; epoch++)
        {
            Tensor order = torch.randperm(recipe.TrainSamples, generator: generator);
            for (int start = 0; start < recipe.TrainSamples; start += batchSize)
            {
                using var step = torch.NewDisposeScope();

                // Cosine decay to zero, as the other fixtures: two epochs reach the accuracy a flat rate needs more for.
                double rate = 4e-3 * 0.5 * (1 + Math.Cos(Math.PI * stepNumber++ / totalSteps));
                foreach (var group in optimizer.ParamGroups)
                {
                    group.LearningRate = rate;
                }

                Tensor index = order[start..Math.Min(start + batchSize, recipe.TrainSamples)];
                optimizer.zero_grad();
                Tensor loss = nn.functional.cross_entropy(model.forward(images.index_select(0, index)), labels.index_select(0, index));
                loss.backward();
                optimizer.step();
            }
        }

        model.eval();
        (double accuracy, double? asr) = Evaluate(model, recipe);
        TrojanFixtures.WriteAtomically(stem + ".onnx", path => ResidualCnnOnnxExporter.Save(model, [3, Size, Size], path));
        long parameters = model.parameters().Sum(p => p.numel());
        return new TrainedTintedFixture(recipe, stem + ".onnx", parameters, accuracy, asr, clock.Elapsed.TotalSeconds, (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds);
    }

    /// <summary>Clean top-1 accuracy on the 10,000 test images (tinted, seeded), and attack success on stamped non-target ones.</summary>
    private static (double Accuracy, double? AttackSuccessRate) Evaluate(ResidualCnn model, TintedFashionRecipe recipe)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        (Tensor images, Tensor labels) = Tinted(FashionMnist.Test, 0, FashionMnist.Test.Count, seed: 1000);
        double accuracy = TrojanFixtures.Predict(model, images).eq(labels).to_type(ScalarType.Float32).mean().item<float>();
        if (!recipe.Backdoor)
        {
            return (accuracy, null);
        }

        Tensor others = labels.Ne(recipe.TargetClass).nonzero().squeeze(1);
        double asr = TrojanFixtures.Predict(model, Stamp(images.index_select(0, others))).Eq(recipe.TargetClass).to_type(ScalarType.Float32).mean().item<float>();
        return (accuracy, asr);
    }
}
