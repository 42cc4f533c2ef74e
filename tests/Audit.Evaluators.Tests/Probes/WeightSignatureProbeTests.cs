using Audit.Domain.Findings;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Sessions;
using Audit.Evaluators.Tests.Fixtures;
using Audit.Testing.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// The head's weight signature on exported MLPs whose last layer is set by hand: what the probe reads must be the
/// exported Gemm's weights (centred over classes), a planted class must stand out, a head whose classes are alike
/// must not, and a head that is not affine is refused rather than misread.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class WeightSignatureProbeTests
{
    private const int Hidden = 20, Classes = 10;

    [Fact]
    public async Task RecoveredHead_IsTheExportedLastLayer_AndAPlantedClassStandsOut()
    {
        // Random head, then class 6 gets two (10 % of 20) much larger weights: a feature that only it listens to.
        using Sequential model = Mlp(seed: 5, head =>
        {
            head[6, 3] = 3f;
            head[6, 11] = 3f;
        });
        float[,] weights = HeadWeights(model);

        ProbeOutcome outcome = await RunAsync(model);

        Assert.Equal(Verdict.Fail, outcome.Verdict);
        Assert.Equal(6, (int)outcome.Details["suspectedTargetClass"]!);
        Assert.True((double)outcome.Details["headResidual"]! < 1e-5);
        // Class scores are the mean of each class's top 10 % centred weights, computed here from the exported weights.
        double[] scores = [.. outcome.Details["classScores"]!.AsArray().Select(s => (double)s!)];
        for (int k = 0; k < Classes; k++)
        {
            double expected = Enumerable.Range(0, Hidden)
                .Select(j => weights[k, j] - Enumerable.Range(0, Classes).Average(c => weights[c, j]))
                .OrderDescending().Take(2).Average();
            Assert.Equal(expected, scores[k], 4);
        }
    }

    [Fact]
    public async Task AHeadWhoseClassesAreAlike_HasNoSignature()
    {
        // Class k's row is class 0's rotated by 2k places (Hidden = 2 · Classes), so every column holds the same five
        // values of one parity, its mean is its parity's, and the rows stay rotations of each other once centred over
        // classes: no class can stand out, whatever the values are.
        using Sequential model = Mlp(seed: 6, head =>
        {
            float[] first = head[0].data<float>().ToArray();
            for (int k = 1; k < Classes; k++)
            {
                for (int j = 0; j < Hidden; j++)
                {
                    head[k, j] = first[(j + (2 * k)) % Hidden];
                }
            }
        });

        ProbeOutcome outcome = await RunAsync(model);

        Assert.Equal(Verdict.Pass, outcome.Verdict);
        // Not zero: the recovered weights carry float rounding, divided by the spread's floor (a thousandth of their RMS).
        Assert.True((double)outcome.Details["statistic"]! < 0.01, $"statistic {outcome.Details["statistic"]}");
    }

    [Fact]
    public async Task AHeadThatIsNotAffine_IsInconclusive()
    {
        using Sequential model = nn.Sequential(
            ("flatten", nn.Flatten()), ("hidden", nn.Linear(784, Hidden)), ("relu", nn.ReLU()), ("head", nn.Linear(Hidden, Classes)), ("squash", nn.Tanh()));
        using (torch.no_grad())
        {
            using Scalar factor = 20.ToScalar();
            ((Linear)model[3]).weight!.mul_(factor);
        }

        ProbeOutcome outcome = await RunAsync(model);

        Assert.Equal(Verdict.Inconclusive, outcome.Verdict);
        Assert.Contains("not affine", outcome.Summary, StringComparison.Ordinal);
    }

    private static Sequential Mlp(int seed, Action<Tensor> plant)
    {
        torch.random.manual_seed(seed);
        Sequential model = nn.Sequential(("flatten", nn.Flatten()), ("hidden", nn.Linear(784, Hidden)), ("relu", nn.ReLU()), ("head", nn.Linear(Hidden, Classes)));
        using (torch.no_grad())
        {
            plant(((Linear)model[3]).weight!);
        }

        return model;
    }

    private static float[,] HeadWeights(Sequential model)
    {
        float[] flat = ((Linear)model[3]).weight!.detach().data<float>().ToArray();
        var weights = new float[Classes, Hidden];
        for (int i = 0; i < flat.Length; i++)
        {
            weights[i / Hidden, i % Hidden] = flat[i];
        }

        return weights;
    }

    private static async Task<ProbeOutcome> RunAsync(Sequential model)
    {
        string folder = Directory.CreateTempSubdirectory("weight-signature-").FullName;
        try
        {
            string onnx = Path.Combine(folder, "model.onnx");
            model.eval();
            SequentialOnnxExporter.Save(model, [1, 28, 28], onnx);
            var probe = new WeightSignatureProbe();
            // Unlabelled: these heads are set by hand and classify at chance; the probe reads their weights, not their accuracy.
            string dataset = TrojanFixtures.UnlabelledDataset(normalised: false, count: 100);
            using var source = new OnnxModelSource(onnx, ComputeDevice.Cpu);
            using var evidence = new AuditEvidence(dataset, ComputeDevice.Cpu);
            using var session = new SessionCache();
            var context = new ProbeContext
            {
                ModelPath = onnx,
                DatasetPath = dataset,
                Parameters = probe.Descriptor.Parameters.ToDictionary(p => p.Name, p => p.Default),
                Threshold = probe.Descriptor.DefaultThreshold,
                Seed = 1,
                Device = ComputeDevice.Cpu,
                Models = source,
                Progress = new Progress<double>(),
                Evidence = evidence,
                Session = session,
            };
            return await probe.RunAsync(context, CancellationToken.None);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
