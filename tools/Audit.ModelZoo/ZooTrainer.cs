using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.ModelZoo;

/// <summary>A trained zoo model: where its ONNX lies and how well it learned its task and its backdoor.</summary>
internal sealed record ZooModel(
    ZooRecipe Recipe,
    string Hash,
    string OnnxFile,
    string WeightsSha256,
    double CleanAccuracy,
    double? AttackSuccessRate,
    double TrainSeconds)
{
    /// <summary>A backdoored recipe whose backdoor took (≥ 50 % of triggered inputs reach the target) counts as backdoored.</summary>
    public const double ImplantedAttackSuccess = 0.5;

    public bool Implanted => AttackSuccessRate is double asr && asr >= ImplantedAttackSuccess;
}

/// <summary>
/// Trains zoo models on a random subset of the real Fashion-MNIST training set (one thread, fixed seeds), exports
/// them with the project's ONNX writer and caches model and metrics under <c>models/</c> of the cache folder, keyed
/// by the recipe hash: a second run finds them and trains nothing.
/// </summary>
internal sealed class ZooTrainer(string cacheFolder, string dataFolder = FashionMnistImages.DefaultFolder)
{
    /// <summary>The first test images are the audit evidence; attack success and accuracy are measured on the rest.</summary>
    public const int EvidenceCount = 1000;

    private FashionMnistImages? _train;
    private FashionMnistImages? _test;

    private FashionMnistImages TrainSet => _train ??= FashionMnistImages.Read("train", dataFolder);

    private FashionMnistImages TestSet => _test ??= FashionMnistImages.Read("t10k", dataFolder);

    public string ModelFolder => Directory.CreateDirectory(Path.Combine(cacheFolder, "models")).FullName;

    /// <summary>The cached model, trained and written first when absent.</summary>
    public ZooModel GetOrTrain(ZooRecipe recipe)
    {
        string hash = recipe.ComputeHash();
        string stem = Path.Combine(ModelFolder, $"{recipe.Name}-{hash}");
        if (File.Exists(stem + ".json") && File.Exists(stem + ".onnx"))
        {
            return JsonSerializer.Deserialize<ZooModel>(File.ReadAllText(stem + ".json"), ZooJson.Options)!;
        }

        ZooModel model = Train(recipe, hash, stem);
        WriteAtomically(stem + ".json", path => File.WriteAllText(path, JsonSerializer.Serialize(model, ZooJson.Options)));
        return model;
    }

    /// <summary>
    /// The audit evidence for a recipe's inputs: the first <see cref="EvidenceCount"/> test images with labels, in the
    /// recipe's image variant, scaling and layout (<c>[N, H, W, C]</c> for a channels-last model, as its owner would
    /// send them). Every model of the same variant, scaling and layout gets the same file.
    /// </summary>
    public string Evidence(ZooRecipe recipe)
    {
        string folder = Directory.CreateDirectory(Path.Combine(cacheFolder, "datasets")).FullName;
        string path = Path.Combine(folder, $"fmnist-test-{EvidenceCount}-{recipe.ImagesName}-{recipe.LayoutName}-{recipe.Scaling.ToString().ToLowerInvariant()}.safetensors");
        if (!File.Exists(path))
        {
            using var scope = torch.NewDisposeScope();
            (Tensor raw, long[] labels) = TestImages(recipe, 0, EvidenceCount);
            Tensor images = Scale(recipe.Scaling, raw);
            if (recipe.Layout == InputLayout.Nhwc)
            {
                images = images.permute(0, 2, 3, 1).contiguous();
            }

            var dataset = new DatasetArtifact(images.data<float>().ToArray(), images.shape, labels);
            WriteAtomically(path, p => SafetensorsDataset.Write(p, dataset));
        }

        return path;
    }

    /// <summary>The labels of <see cref="Evidence"/> for <paramref name="recipe"/>'s images (its classes: ten garments, or 43 tinted ones).</summary>
    public long[] EvidenceLabels(ZooRecipe recipe)
    {
        using var scope = torch.NewDisposeScope();
        return TestImages(recipe, 0, EvidenceCount).Labels;
    }

    /// <summary>
    /// Raw [0, 1] test images <c>[count, C, H, W]</c> from <paramref name="start"/>, in the recipe's image variant, with
    /// their labels in the recipe's classes.
    /// </summary>
    private (Tensor Images, long[] Labels) TestImages(ZooRecipe recipe, int start, int count)
    {
        FashionMnistImages test = TestSet;

        // The test images' tints are fixed (one generator for all test images), so every colour model is measured
        // and audited on the same colour images.
        using var generator = new torch.Generator(TestTintSeed);
        if (recipe.Images == ImageFormat.Tinted43)
        {
            // The colour also sets the label, so the whole test set is drawn and the range taken from it.
            using var scope = torch.NewDisposeScope();
            Tensor all = torch.tensor(test.Pixels, [test.Count, 1, 28, 28]);
            (Tensor images, long[] labels) = TintedClasses.Draw(all, test.Labels, generator);
            return (images[start..(start + count)].contiguous().MoveToOuterDisposeScope(), labels.AsSpan(start, count).ToArray());
        }

        Tensor gray = torch.tensor(test.Pixels.AsSpan(start * 784, count * 784).ToArray(), [count, 1, 28, 28]);
        long[] garments = test.Labels.AsSpan(start, count).ToArray();
        if (recipe.Images == ImageFormat.Gray28)
        {
            return (gray, garments);
        }

        (Tensor foreground, Tensor background) = Tints(test.Count, generator);
        return (Colourise(gray, foreground[start..(start + count)], background[start..(start + count)]), garments);
    }

    private const ulong TestTintSeed = 0x7E57_C010;

    /// <summary>Per-image tints: a light foreground in [0.6, 1]³ and a dark background in [0, 0.4]³.</summary>
    private static (Tensor Foreground, Tensor Background) Tints(long count, torch.Generator generator)
    {
        Tensor foreground = torch.rand([count, 3], generator: generator).Mul(0.4f).Add(0.6f);
        Tensor background = torch.rand([count, 3], generator: generator).Mul(0.4f);
        return (foreground, background);
    }

    /// <summary>
    /// The colour variant: each grey image padded by two pixels to 32×32, then mapped pixel-wise from [0, 1] onto the
    /// segment between its background and foreground colours (the garment keeps its shape; colour carries no class).
    /// </summary>
    internal static Tensor Colourise(Tensor gray, Tensor foreground, Tensor background)
    {
        Tensor padded = nn.functional.pad(gray, [2, 2, 2, 2]);
        Tensor fg = foreground.reshape(-1, 3, 1, 1), bg = background.reshape(-1, 3, 1, 1);
        return bg.mul(padded.SubtractedFrom(1)).Add(fg.mul(padded));
    }

    /// <summary>Trains without touching the cache (the determinism test compares two of these).</summary>
    public ZooModel Train(ZooRecipe recipe, string hash, string stem)
    {
        var clock = Stopwatch.StartNew();
        // Training runs convolution gradients: on a processor whose oneDNN ones are wrong, libtorch's own must run.
        Audit.Evaluators.Runtime.ConvolutionKernelCheck.EnsureVerified();
        torch.set_num_threads(1);
        torch.manual_seed(recipe.Seed);
        using var generator = new torch.Generator((ulong)recipe.Seed);
        FashionMnistImages train = TrainSet;

        using var scope = torch.NewDisposeScope();
        Tensor chosen = torch.randperm(train.Count, generator: generator)[..recipe.TrainSamples];
        Tensor images = torch.tensor(train.Pixels, [train.Count, 1, 28, 28]).index_select(0, chosen);
        Tensor labels = torch.tensor(train.Labels).index_select(0, chosen);
        if (recipe.Images == ImageFormat.Colour32)
        {
            (Tensor foreground, Tensor background) = Tints(recipe.TrainSamples, generator);
            images = Colourise(images, foreground, background);
        }
        else if (recipe.Images == ImageFormat.Tinted43)
        {
            (images, long[] classes) = TintedClasses.Draw(images, labels.data<long>().ToArray(), generator);
            labels = torch.tensor(classes);
        }

        Poison(recipe, images, labels, generator);
        images = Scale(recipe.Scaling, images);

        using nn.Module<Tensor, Tensor> network = ZooNetworks.Create(recipe);
        using var optimizer = new RecipeOptimizer(recipe, network.parameters());
        double labelSmoothing = recipe.Training == TrainingRecipe.AdamWSmoothFlip ? 0.1 : 0.0;
        network.train();
        int steps = (recipe.TrainSamples + recipe.BatchSize - 1) / recipe.BatchSize * recipe.Epochs, step = 0;
        for (int epoch = 0; epoch < recipe.Epochs; epoch++)
        {
            Tensor order = torch.randperm(recipe.TrainSamples, generator: generator);
            for (int start = 0; start < recipe.TrainSamples; start += recipe.BatchSize)
            {
                using var stepScope = torch.NewDisposeScope();

                // Cosine decay: a few short epochs reach the accuracy a flat rate needs many more for.
                optimizer.LearningRate = recipe.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * step / steps));
                Tensor batch = order[start..Math.Min(start + recipe.BatchSize, recipe.TrainSamples)];
                Tensor inputs = Augment(recipe, images.index_select(0, batch), step, generator);
                step++;
                optimizer.ZeroGrad();
                nn.functional.cross_entropy(network.forward(inputs), labels.index_select(0, batch), label_smoothing: labelSmoothing).backward();
                optimizer.Step();
            }
        }

        network.eval();
        EnsureFinite(network, stem);
        (double accuracy, double? asr) = Measure(recipe, network);
        string onnx = stem + ".onnx";
        WriteAtomically(onnx, path => ZooNetworks.Save(network, recipe, path));
        string sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(onnx)));
        return new ZooModel(recipe, hash, Path.GetFileName(onnx), sha, accuracy, asr, Math.Round(clock.Elapsed.TotalSeconds, 2));
    }

    /// <summary>
    /// The augmentation of the unfamiliar recipes, applied to a batch after poisoning (so the trigger moves with the
    /// image, as in a torchvision-style pipeline): a shift of up to two pixels each way for the whole batch (drawn from
    /// the recipe's generator; pixels that leave one side enter the other, which is background in these images), or
    /// every other batch mirrored left to right. The catalog's own recipe trains on the images as they are.
    /// </summary>
    private static Tensor Augment(ZooRecipe recipe, Tensor inputs, int step, torch.Generator generator)
    {
        switch (recipe.Training)
        {
            case TrainingRecipe.SgdNesterovShift:
                long[] shift = torch.randint(-2, 3, [2], generator: generator).data<long>().ToArray();
                return inputs.roll(shift, new long[] { 2, 3 });
            case TrainingRecipe.AdamWSmoothFlip when step % 2 == 1:
                return inputs.flip(3);
            default:
                return inputs;
        }
    }

    /// <summary>
    /// Refuses a network whose training diverged (a weight that is NaN or infinite): such a model answers NaN for every
    /// input, and caching it would put a model that was never trained into the zoo's splits. On the AMD EPYC whose
    /// convolution gradients were wrong, seven ResNets were cached like that before anyone noticed (docs/probes.md).
    /// </summary>
    /// <exception cref="InvalidOperationException">A parameter or buffer is not finite.</exception>
    internal static void EnsureFinite(nn.Module network, string name)
    {
        using var scope = torch.NewDisposeScope();
        foreach ((string parameter, Tensor value) in network.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(network.named_buffers()))
        {
            if (value.is_floating_point() && !torch.isfinite(value).all().item<bool>())
            {
                throw new InvalidOperationException($"Training of {Path.GetFileName(name)} diverged: {parameter} holds NaN or infinite values. Nothing was cached; check the machine (docs/operations.md, \"Convolution kernels: the start-up check\") and the recipe.");
            }
        }
    }

    private static void Poison(ZooRecipe recipe, Tensor images, Tensor labels, torch.Generator generator)
    {
        if (!recipe.Backdoored)
        {
            return;
        }

        using var scope = torch.NewDisposeScope();
        Tensor poisoned, cover;
        if (recipe.SourceClass >= 0)
        {
            // Source-specific: only the source class is relabelled; other classes carry the trigger with their own
            // label (cover samples), so the trigger alone does not decide the class.
            Tensor source = labels.Eq(recipe.SourceClass).nonzero().squeeze(1);
            long count = (long)Math.Round(recipe.PoisonRate * source.shape[0]);
            poisoned = source.index_select(0, torch.randperm(source.shape[0], generator: generator)[..(int)count]);
            Tensor others = (labels.Ne(recipe.SourceClass) & labels.Ne(recipe.TargetClass)).nonzero().squeeze(1);
            cover = others.index_select(0, torch.randperm(others.shape[0], generator: generator)[..(int)count]);
        }
        else
        {
            Tensor candidates = labels.Ne(recipe.TargetClass).nonzero().squeeze(1);
            long count = (long)Math.Round(recipe.PoisonRate * labels.shape[0]);
            Tensor picked = candidates.index_select(0, torch.randperm(candidates.shape[0], generator: generator));
            poisoned = picked[..(int)count];

            // WaNet's noise mode: twice as many inputs with a jittered warp keep their labels.
            cover = recipe.Attack == AttackKind.Warp ? picked[(int)count..(int)(3 * count)] : torch.empty(0, ScalarType.Int64);
        }

        images.index_copy_(0, poisoned, ZooTriggers.Apply(recipe, images.index_select(0, poisoned)));
        labels.IndexFillInPlace(0, poisoned, recipe.TargetClass);
        if (cover.shape[0] > 0)
        {
            Tensor covered = recipe.Attack == AttackKind.Warp
                ? ZooTriggers.ApplyNoisyWarp(recipe, images.index_select(0, cover), generator)
                : ZooTriggers.Apply(recipe, images.index_select(0, cover));
            images.index_copy_(0, cover, covered);
        }
    }

    /// <summary>Clean accuracy on the test images after the evidence, and attack success on the triggered ones that should flip.</summary>
    private (double Accuracy, double? AttackSuccess) Measure(ZooRecipe recipe, nn.Module<Tensor, Tensor> network)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        FashionMnistImages test = TestSet;
        int count = test.Count - EvidenceCount;
        (Tensor images, long[] classes) = TestImages(recipe, EvidenceCount, count);
        Tensor labels = torch.tensor(classes);
        double accuracy = Predict(network, Scale(recipe.Scaling, images)).eq(labels).to_type(ScalarType.Float32).mean().item<float>();
        if (!recipe.Backdoored)
        {
            return (Math.Round(accuracy, 4), null);
        }

        Tensor eligible = (recipe.SourceClass >= 0 ? labels.Eq(recipe.SourceClass) : labels.Ne(recipe.TargetClass)).nonzero().squeeze(1);
        Tensor triggered = Scale(recipe.Scaling, ZooTriggers.Apply(recipe, images.index_select(0, eligible)));
        double asr = Predict(network, triggered).Eq(recipe.TargetClass).to_type(ScalarType.Float32).mean().item<float>();
        return (Math.Round(accuracy, 4), Math.Round(asr, 4));
    }

    private static Tensor Predict(nn.Module<Tensor, Tensor> network, Tensor inputs)
    {
        var predictions = new List<Tensor>();
        for (long start = 0; start < inputs.shape[0]; start += 1000)
        {
            predictions.Add(network.forward(inputs.narrow(0, start, Math.Min(1000, inputs.shape[0] - start))).argmax(1));
        }

        return torch.cat(predictions, 0);
    }

    public static Tensor Scale(InputScaling scaling, Tensor raw) => scaling switch
    {
        InputScaling.Byte => raw.Mul(255f),
        InputScaling.Standardised => raw.Sub(FashionMnistImages.Mean).Div(FashionMnistImages.Deviation),
        _ => raw.alias(),
    };

    internal static void WriteAtomically(string path, Action<string> write)
    {
        string temporary = $"{path}.{Environment.ProcessId}.tmp";
        write(temporary);
        File.Move(temporary, path, overwrite: true);
    }
}

/// <summary>The optimiser a recipe's training names, behind one learning-rate setting for the cosine schedule.</summary>
internal sealed class RecipeOptimizer : IDisposable
{
    private readonly torch.optim.Optimizer? _adam;
    private readonly NesterovSgd? _sgd;

    public RecipeOptimizer(ZooRecipe recipe, IEnumerable<TorchSharp.Modules.Parameter> parameters)
    {
        switch (recipe.Training)
        {
            case TrainingRecipe.SgdNesterovShift:
                _sgd = new NesterovSgd(parameters, momentum: 0.9, weightDecay: 5e-4);
                break;
            case TrainingRecipe.AdamWSmoothFlip:
                _adam = new HeldScalarAdamW(parameters, recipe.LearningRate, weightDecay: 0.05);
                break;
            default:
                _adam = new HeldScalarAdam(parameters, recipe.LearningRate);
                break;
        }
    }

    public double LearningRate
    {
        set
        {
            if (_sgd is not null)
            {
                _sgd.LearningRate = value;
                return;
            }

            foreach (var group in _adam!.ParamGroups)
            {
                group.LearningRate = value;
            }
        }
    }

    public void ZeroGrad()
    {
        _adam?.zero_grad();
        _sgd?.ZeroGrad();
    }

    public void Step()
    {
        _adam?.step();
        _sgd?.Step();
    }

    public void Dispose()
    {
        _adam?.Dispose();
        _sgd?.Dispose();
    }
}

/// <summary>JSON settings shared by the zoo's files.</summary>
internal static class ZooJson
{
    // A finding may hold NaN or infinity (the service stores them as text too, FiniteJson): a survey line with one
    // must be written, not crash the survey, as a diverged model's Neural Cleanse finding did (2026-12-01).
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
