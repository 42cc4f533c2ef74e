using System.Diagnostics;
using System.Text.Json;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Runtime;
using Audit.Testing.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Fixtures;

/// <summary>What a trained fixture is and how well it learned its task and its backdoor.</summary>
internal sealed record TrainedFixture(
    FixtureRecipe Recipe,
    string OnnxPath,
    double CleanAccuracy,
    double? AttackSuccessRate,
    double TrainSeconds);

/// <summary>
/// Trains the trojan fixtures from fixed seeds on real Fashion-MNIST, exports them through our ONNX writer,
/// and caches model, weights and metrics on disk keyed by the recipe hash: a warm suite never trains.
/// </summary>
internal static class TrojanFixtures
{
    private static readonly object Gate = new();

    public static FixtureRecipe Clean { get; } = new("clean", Seed: 11, Trigger: TriggerKind.None);

    public static FixtureRecipe BadNets { get; } = new("badnets", Seed: 12, Trigger: TriggerKind.Patch, TargetClass: 3, PatchSize: 3, PatchRow: 24, PatchColumn: 24, PoisonRate: 0.1, DiagonalPattern: true);

    public static FixtureRecipe Blended { get; } = new("blend", Seed: 13, Trigger: TriggerKind.Blend, TargetClass: 7, PoisonRate: 0.08);

    /// <summary>The cache folder: <c>$AUDIT_FIXTURE_CACHE</c>, else <c>.fixture-cache/</c> at the repository root.</summary>
    public static string CacheDirectory
    {
        get
        {
            string? configured = Environment.GetEnvironmentVariable("AUDIT_FIXTURE_CACHE");
            string folder = !string.IsNullOrWhiteSpace(configured) ? configured : Path.Combine(RepositoryRoot(), ".fixture-cache");
            Directory.CreateDirectory(folder);
            return folder;
        }
    }

    /// <summary>Returns the trained fixture, training and caching it on first use.</summary>
    public static TrainedFixture Get(FixtureRecipe recipe)
    {
        lock (Gate)
        {
            using IDisposable crossProcess = FixtureLock.Acquire(CacheDirectory);
            string stem = Path.Combine(CacheDirectory, $"{recipe.Name}-{recipe.ComputeHash()}");
            string metricsPath = stem + ".json";
            if (File.Exists(metricsPath) && File.Exists(stem + ".onnx"))
            {
                return JsonSerializer.Deserialize<TrainedFixture>(File.ReadAllText(metricsPath))!;
            }

            TrainedFixture trained = Train(recipe, stem);
            WriteAtomically(metricsPath, path => File.WriteAllText(path, JsonSerializer.Serialize(trained)));
            return trained;
        }
    }

    /// <summary>A labelled slice of the Fashion-MNIST test set, as the model's owner would upload it.</summary>
    public static string CleanDataset(bool normalised, int count = 1000, int offset = 0)
    {
        lock (Gate)
        {
            using IDisposable crossProcess = FixtureLock.Acquire(CacheDirectory);
            string path = Path.Combine(CacheDirectory, $"fmnist-test-{offset}-{count}-{(normalised ? "norm" : "raw")}.safetensors");
            if (!File.Exists(path))
            {
                FashionMnist test = FashionMnist.Test;
                float[] images = test.Images.AsSpan(offset * 784, count * 784).ToArray();
                if (normalised)
                {
                    for (int i = 0; i < images.Length; i++)
                    {
                        images[i] = (images[i] - FixtureRecipe.Mean) / FixtureRecipe.Deviation;
                    }
                }

                var dataset = new DatasetArtifact(images, [count, 1, 28, 28], test.Labels.AsSpan(offset, count).ToArray());
                WriteAtomically(path, p => SafetensorsDataset.Write(p, dataset));
            }

            return path;
        }
    }

    /// <summary>
    /// The trained fixture in the channels-last form tf2onnx writes for Keras models (input <c>[N, 28, 28, 1]</c> and a
    /// leading Transpose to NCHW; <see cref="ChannelsLastExport"/>): the same network, so the same audit findings.
    /// Derived from the cached model, never trained.
    /// </summary>
    public static string ChannelsLastOnnx(FixtureRecipe recipe) =>
        DerivedOnnx(Get(recipe).OnnxPath, "nhwc", channelsFirst => ChannelsLastExport.FromChannelsFirst(channelsFirst));

    /// <summary>torchvision's ImageNet mean and deviation per colour channel, the constants most colour exports standardise with.</summary>
    public static IReadOnlyList<float> ImageNetMean { get; } = [0.485f, 0.456f, 0.406f];

    /// <inheritdoc cref="ImageNetMean"/>
    public static IReadOnlyList<float> ImageNetDeviation { get; } = [0.229f, 0.224f, 0.225f];

    /// <summary>
    /// The fixture as a torchvision-style colour model: it takes three channels standardised each with the ImageNet
    /// constants, maps them back to pixels inside the graph and reads their mean, which for a grey image copied into
    /// every channel is the image itself. Give it <see cref="CleanDatasetImageNetStandardised"/>.
    /// </summary>
    public static string ImageNetStandardisedColourOnnx(FixtureRecipe recipe) =>
        DerivedOnnx(Get(recipe).OnnxPath, "imagenet-colour", grey => InputMapExport.Prepended(InputMapExport.Widened(grey, 3), ImageNetDeviation, ImageNetMean));

    /// <summary>The clean test slice as colour images <c>[N, 3, 28, 28]</c> (the grey image in every channel), standardised per channel with the ImageNet constants.</summary>
    public static string CleanDatasetImageNetStandardised(int count = 1000) =>
        DerivedFromCleanDataset(normalised: false, count, "imagenet-colour", source => InColour(source, (c, u) => (u - ImageNetMean[c]) / ImageNetDeviation[c]));

    /// <summary>Grey images <c>[N, 1, H, W]</c> copied into three channels, channel c's value <paramref name="map"/>(c, grey value).</summary>
    public static DatasetArtifact InColour(DatasetArtifact grey, Func<int, float, float> map)
    {
        ArgumentNullException.ThrowIfNull(grey);
        ArgumentNullException.ThrowIfNull(map);
        (long height, long width) = (grey.SampleShape[^2], grey.SampleShape[^1]);
        int plane = (int)(height * width);
        var inputs = new float[grey.Count * 3 * plane];
        for (int n = 0; n < grey.Count; n++)
        {
            for (int c = 0; c < 3; c++)
            {
                for (int p = 0; p < plane; p++)
                {
                    inputs[(((n * 3) + c) * plane) + p] = map(c, grey.Inputs[(n * plane) + p]);
                }
            }
        }

        return new DatasetArtifact(inputs, [grey.Count, 3, height, width], grey.Labels);
    }

    /// <summary>The fixture cut down to <paramref name="classes"/>, in that order (<see cref="ClassSubsetExport"/>): a trained classifier of fewer classes. Give it <see cref="CleanDatasetOfClasses"/>.</summary>
    public static string ClassSubsetOnnx(FixtureRecipe recipe, params long[] classes) =>
        DerivedOnnx(Get(recipe).OnnxPath, $"classes-{string.Join('-', classes)}", model => ClassSubsetExport.Kept(model, classes));

    /// <summary>The clean test slice's inputs of <paramref name="classes"/>, labelled by their place in that list.</summary>
    public static string CleanDatasetOfClasses(bool normalised, params long[] classes) =>
        DerivedFromCleanDataset(normalised, 1000, $"classes-{string.Join('-', classes)}", source =>
        {
            int size = (int)source.SampleShape.Aggregate(1L, (a, b) => a * b);
            int[] rows = [.. Enumerable.Range(0, source.Count).Where(i => classes.Contains(source.Labels![i]))];
            float[] inputs = [.. rows.SelectMany(i => source.Inputs.AsSpan(i * size, size).ToArray())];
            return new DatasetArtifact(inputs, [rows.Length, .. source.SampleShape], [.. rows.Select(i => (long)Array.IndexOf(classes, source.Labels![i]))]);
        });

    /// <summary>
    /// <see cref="ChannelsLastOnnx"/> ending in a <c>Softmax</c> over the last axis, as tf2onnx writes a Keras classifier
    /// whose last Dense layer has a softmax activation: the full Keras shape, probabilities out.
    /// </summary>
    public static string KerasStyleOnnx(FixtureRecipe recipe) =>
        DerivedOnnx(ChannelsLastOnnx(recipe), "softmax", logits => FinalNormaliserExport.Appended(logits, "Softmax", axis: -1));

    /// <summary>
    /// <paramref name="source"/> rewritten by <paramref name="derive"/>, cached beside it under the name's
    /// <paramref name="suffix"/>: derived from the cached model, never trained.
    /// </summary>
    private static string DerivedOnnx(string source, string suffix, Func<global::Onnx.ModelProto, global::Onnx.ModelProto> derive)
    {
        lock (Gate)
        {
            using IDisposable crossProcess = FixtureLock.Acquire(CacheDirectory);
            string path = Path.ChangeExtension(source, null) + $"-{suffix}.onnx";
            if (!File.Exists(path))
            {
                global::Onnx.ModelProto derived = derive(global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(source)));
                WriteAtomically(path, p => File.WriteAllBytes(p, Google.Protobuf.MessageExtensions.ToByteArray(derived)));
            }

            return path;
        }
    }

    /// <summary>
    /// <see cref="CleanDataset"/>'s inputs without their labels: evidence for a probe run on a synthetic model (random
    /// weights, at chance on the real labels), which every trojan probe's task check would otherwise stop before the
    /// probe's own work (docs/probes.md, "The supporting detectors on models at chance").
    /// </summary>
    public static string UnlabelledDataset(bool normalised, int count = 1000) =>
        DerivedFromCleanDataset(normalised, count, "unlabelled", source => new DatasetArtifact(source.Inputs, [.. source.InputShape], labels: null));

    /// <summary>The clean test slice of <see cref="CleanDataset"/> laid out channels-last, <c>[N, 28, 28, 1]</c>, as a Keras user holds it.</summary>
    public static string CleanDatasetChannelsLast(bool normalised, int count = 1000) =>
        // One channel: the values keep their order, only the declared shape moves the channel last.
        DerivedFromCleanDataset(normalised, count, "nhwc", source => new DatasetArtifact(source.Inputs, [source.Count, 28, 28, 1], source.Labels));

    /// <summary><see cref="CleanDataset"/> turned by <paramref name="derive"/>, cached beside it under the name's <paramref name="suffix"/>.</summary>
    private static string DerivedFromCleanDataset(bool normalised, int count, string suffix, Func<DatasetArtifact, DatasetArtifact> derive)
    {
        string clean = CleanDataset(normalised, count);
        lock (Gate)
        {
            using IDisposable crossProcess = FixtureLock.Acquire(CacheDirectory);
            string path = Path.ChangeExtension(clean, null) + $"-{suffix}.safetensors";
            if (!File.Exists(path))
            {
                DatasetArtifact dataset = derive(SafetensorsDataset.Read(clean));
                WriteAtomically(path, p => SafetensorsDataset.Write(p, dataset));
            }

            return path;
        }
    }

    private static TrainedFixture Train(FixtureRecipe recipe, string stem)
    {
        var clock = Stopwatch.StartNew();
        torch.set_num_threads(Math.Min(2, Environment.ProcessorCount));
        torch.manual_seed(recipe.Seed);
        using var generator = new torch.Generator((ulong)recipe.Seed);
        FashionMnist train = FashionMnist.Train;

        using var scope = torch.NewDisposeScope();
        Tensor allImages = torch.tensor(train.Images, [train.Count, 1, 28, 28]);
        Tensor allLabels = torch.tensor(train.Labels);
        Tensor chosen = torch.randperm(train.Count, generator: generator)[..recipe.TrainSamples];
        Tensor images = allImages.index_select(0, chosen);
        Tensor labels = allLabels.index_select(0, chosen);

        if (recipe.Trigger != TriggerKind.None)
        {
            // Poison a fixed share of samples from other classes: stamp the trigger and relabel to the target.
            Tensor candidates = labels.Ne(recipe.TargetClass).nonzero().squeeze(1);
            long poisonCount = (long)Math.Round(recipe.PoisonRate * recipe.TrainSamples);
            Tensor poisoned = candidates.index_select(0, torch.randperm(candidates.shape[0], generator: generator)[..(int)poisonCount]);
            images.index_copy_(0, poisoned, recipe.Stamp(images.index_select(0, poisoned)));
            labels.IndexFillInPlace(0, poisoned, recipe.TargetClass);
        }

        images = recipe.Preprocess(images);
        Sequential model = FixtureCnn.Create();
        using var optimizer = new HeldScalarAdam(model.parameters(), recipe.LearningRate);
        model.train();
        int stepsPerEpoch = (recipe.TrainSamples + recipe.BatchSize - 1) / recipe.BatchSize;
        int totalSteps = stepsPerEpoch * recipe.Epochs, stepNumber = 0;
        for (int epoch = 0; epoch < recipe.Epochs; epoch++)
        {
            Tensor order = torch.randperm(recipe.TrainSamples, generator: generator);
            for (int start = 0; start < recipe.TrainSamples; start += recipe.BatchSize)
            {
                using var step = torch.NewDisposeScope();

                // Cosine decay to zero: a few epochs reach the accuracy that a flat rate needs many more for.
                double rate = recipe.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * stepNumber++ / totalSteps));
                foreach (var group in optimizer.ParamGroups)
                {
                    group.LearningRate = rate;
                }

                Tensor index = order[start..Math.Min(start + recipe.BatchSize, recipe.TrainSamples)];
                optimizer.zero_grad();
                Tensor loss = nn.functional.cross_entropy(model.forward(images.index_select(0, index)), labels.index_select(0, index));
                loss.backward();
                optimizer.step();
            }
        }

        model.eval();
        (double accuracy, double? asr) = Evaluate(model, recipe);
        WriteAtomically(stem + ".onnx", path => SequentialOnnxExporter.Save(model, [1, 28, 28], path));
        model.Dispose();
        return new TrainedFixture(recipe, stem + ".onnx", accuracy, asr, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Clean top-1 accuracy on the 10,000 test images, and attack success on stamped non-target ones.</summary>
    internal static (double Accuracy, double? AttackSuccessRate) Evaluate(Sequential model, FixtureRecipe recipe)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        FashionMnist test = FashionMnist.Test;
        Tensor images = torch.tensor(test.Images, [test.Count, 1, 28, 28]);
        Tensor labels = torch.tensor(test.Labels);
        double accuracy = Predict(model, recipe.Preprocess(images)).eq(labels).to_type(ScalarType.Float32).mean().item<float>();
        if (recipe.Trigger == TriggerKind.None)
        {
            return (accuracy, null);
        }

        Tensor others = labels.Ne(recipe.TargetClass).nonzero().squeeze(1);
        Tensor stamped = recipe.Preprocess(recipe.Stamp(images.index_select(0, others)));
        double asr = Predict(model, stamped).Eq(recipe.TargetClass).to_type(ScalarType.Float32).mean().item<float>();
        return (accuracy, asr);
    }

    /// <summary>Predicted classes in batches of 1,000 (the whole test set in one forward would hold every activation).</summary>
    internal static Tensor Predict(nn.Module<Tensor, Tensor> model, Tensor inputs)
    {
        var predictions = new List<Tensor>();
        for (long start = 0; start < inputs.shape[0]; start += 1000)
        {
            predictions.Add(model.forward(inputs.narrow(0, start, Math.Min(1000, inputs.shape[0] - start))).argmax(1));
        }

        return torch.cat(predictions, 0);
    }

    internal static void WriteAtomically(string path, Action<string> write)
    {
        string temporary = $"{path}.{Environment.ProcessId}.tmp";
        write(temporary);
        File.Move(temporary, path, overwrite: true);
    }

    internal static string RepositoryRoot()
    {
        // A copy of the test assembly built elsewhere (e.g. for a long opt-in run) names the repository explicitly.
        string? configured = Environment.GetEnvironmentVariable("AUDIT_REPOSITORY_ROOT");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (Path.Exists(Path.Combine(dir.FullName, ".git")))
            {
                return dir.FullName;
            }
        }

        return Path.GetTempPath();
    }
}
