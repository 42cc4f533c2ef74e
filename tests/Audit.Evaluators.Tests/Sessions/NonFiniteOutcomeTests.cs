using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using Audit.Testing.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Sessions;

/// <summary>
/// A model whose training diverged answers NaN. On the AMD machine of 2026-12-01 two zoo models did (trained by the
/// same recipe that gave 76 % accuracy on an Intel Xeon): Neural Cleanse then passed them with an anomaly index of
/// 0 computed from NaN mask norms, the blend search failed one (every NaN argmax is class 0), and the survey crashed
/// writing a finding with NaN in it, as the service would have when storing it.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class NonFiniteOutcomeTests
{
    private static readonly string[] TrojanProbeIds = ["neural-cleanse", "strip", "weight-signature", "blend-inversion", "warp-inversion", "saliency-persistence"];

    [Fact]
    public async Task AModelThatAnswersNaN_IsInconclusiveForEveryTrojanProbe_NeverPassedOrFailed()
    {
        using Sequential diverged = Mlp(poison: float.NaN);
        using Sequential finite = Mlp(poison: 0.5f);

        IReadOnlyList<ProbeOutcome> nan = await RunAsync(diverged, TrojanProbeIds);
        IReadOnlyList<ProbeOutcome> control = await RunAsync(finite, ["weight-signature"]);

        Assert.All(nan, outcome =>
        {
            Assert.Equal(Verdict.Inconclusive, outcome.Verdict);
            Assert.Null(outcome.Score);
            Assert.Contains("not finite", outcome.Summary, StringComparison.Ordinal);
            _ = outcome.Details.ToJsonString();
        });

        // The same network with a finite weight in the same place is measured: the gate is about NaN, not the model.
        Assert.NotEqual(Verdict.Inconclusive, Assert.Single(control).Verdict);
    }

    [Fact]
    public void NonFiniteDetails_BecomeNullAndAreListed_AndANonFiniteScore_IsInconclusive()
    {
        var descriptor = new ProbeDescriptor("test-probe", "Test", "test double", ModelKinds.Any, EvidenceKind.None, 1, "none", []);
        JsonObject Details() => new()
        {
            ["statistic"] = double.PositiveInfinity,
            ["norms"] = new JsonArray(1.0, double.NaN, 3.0),
            ["nested"] = new JsonObject { ["value"] = float.NegativeInfinity, ["fine"] = 2.5 },
        };

        ProbeOutcome failed = EvaluationSession.FiniteOnly(descriptor, new ProbeOutcome(Verdict.Fail, double.PositiveInfinity, "huge", Details(), []));
        ProbeOutcome passed = EvaluationSession.FiniteOnly(descriptor, new ProbeOutcome(Verdict.Pass, 0.2, "small", Details(), []));

        Assert.Equal(Verdict.Inconclusive, failed.Verdict);
        Assert.Null(failed.Score);
        Assert.Contains("not a finite number", failed.Summary, StringComparison.Ordinal);
        Assert.Equal(Verdict.Pass, passed.Verdict);
        Assert.Equal(0.2, passed.Score);
        JsonObject read = JsonNode.Parse(passed.Details.ToJsonString())!.AsObject();
        Assert.Null(read["statistic"]);
        Assert.Null(read["norms"]![1]);
        Assert.Equal(3.0, (double)read["norms"]![2]!);
        Assert.Null(read["nested"]!["value"]);
        Assert.Equal(2.5, (double)read["nested"]!["fine"]!);
        Assert.Equal(["statistic", "norms[1]", "nested.value"], read["nonFiniteValues"]!.AsArray().Select(n => (string)n!));
    }

    [Fact]
    public void AFiniteOutcome_IsReturnedAsItWas()
    {
        var descriptor = new ProbeDescriptor("test-probe", "Test", "test double", ModelKinds.Any, EvidenceKind.None, 1, "none", []);
        var details = new JsonObject { ["statistic"] = 1.5, ["norms"] = new JsonArray(1.0, 2.0) };
        string before = details.ToJsonString();

        ProbeOutcome outcome = EvaluationSession.FiniteOnly(descriptor, new ProbeOutcome(Verdict.Fail, 1.5, "flagged", details, []));

        Assert.Equal(Verdict.Fail, outcome.Verdict);
        Assert.Equal(1.5, outcome.Score);
        Assert.Equal(before, outcome.Details.ToJsonString());
    }

    /// <summary>784 → 20 → 10 with fixed random weights and one first-layer weight set to <paramref name="poison"/>.</summary>
    private static Sequential Mlp(float poison)
    {
        torch.manual_seed(11);
        Sequential model = nn.Sequential(("flatten", nn.Flatten()), ("fc1", nn.Linear(784, 20)), ("relu", nn.ReLU()), ("fc2", nn.Linear(20, 10)));
        using (torch.no_grad())
        {
            ((Linear)model[1]).weight![3, 200] = poison;
        }

        model.eval();
        return model;
    }

    private static async Task<IReadOnlyList<ProbeOutcome>> RunAsync(Sequential model, IReadOnlyList<string> probes)
    {
        string folder = Directory.CreateTempSubdirectory("non-finite-").FullName;
        try
        {
            string onnx = Path.Combine(folder, "model.onnx");
            SequentialOnnxExporter.Save(model, [1, 28, 28], onnx);
            string dataset = TrojanFixtures.CleanDataset(normalised: false, count: 100);
            var runner = new ProbeRunner(new ProbeCatalog([.. TrojanProbes.All()]), static (path, device) => new OnnxModelSource(path, device));
            using EvaluationSession session = runner.Open(onnx, dataset, "cpu", 1);
            var outcomes = new List<ProbeOutcome>();
            foreach (string probe in probes)
            {
                outcomes.Add(await session.RunAsync(new ProbeInvocation(probe, new Dictionary<string, JsonElement>(), null), new Progress<double>(), CancellationToken.None));
            }

            return outcomes;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
