using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// A model whose training diverged answers NaN. On the AMD machine of 2026-12-01 two zoo models did (trained by the
/// same recipe that gave 76 % accuracy on an Intel Xeon): Neural Cleanse then passed them with an anomaly index of
/// 0 computed from NaN mask norms, and the blend search failed one (every NaN argmax is class 0).
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class DivergedModelTests
{
    private static readonly string[] TrojanProbeIds = ["neural-cleanse", "strip", "weight-signature", "blend-inversion", "warp-inversion", "saliency-persistence", "contrastive-patch"];

    [Fact]
    public async Task AModelThatAnswersNaN_IsInconclusiveForEveryTrojanProbe_NeverPassedOrFailed()
    {
        using Sequential diverged = Mlp(poison: float.NaN);
        using Sequential finite = Mlp(poison: 0.5f);

        // Labelled evidence for the diverged model: the NaN gate must speak before the task check (which would call it at
        // chance); none for the control, a random network at chance that the task check would stop.
        IReadOnlyList<ProbeOutcome> nan = await RunAsync(diverged, TrojanProbeIds, TrojanFixtures.CleanDataset(normalised: false, count: 100));
        IReadOnlyList<ProbeOutcome> control = await RunAsync(finite, ["weight-signature"], TrojanFixtures.UnlabelledDataset(normalised: false, count: 100));

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

    private static async Task<IReadOnlyList<ProbeOutcome>> RunAsync(Sequential model, IReadOnlyList<string> probes, string dataset) =>
        await HandBuiltModelRuns.RunAsync(model, dataset, TrojanProbes.All(), probes);
}
