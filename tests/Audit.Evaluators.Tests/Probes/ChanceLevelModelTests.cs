using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// No trojan probe gives a backdoor verdict on a model that does not do its task on the labelled evidence: a model
/// collapsed onto one class looks to every trigger search like a trigger of size zero for that class (in the model zoo
/// such collapsed MLPs were clean models failed; docs/probes.md, "Models at chance accuracy" and "The supporting
/// detectors on models at chance").
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class ChanceLevelModelTests
{
    private const int EvidenceCount = 300;

    // Every class in turn: the check must read the class the model answers, not one that happens to be rare.
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    public async Task AModelCollapsedOntoOneClass_IsInconclusive_WithTheAccuracyItScores(int answered)
    {
        string dataset = TrojanFixtures.CleanDataset(normalised: false, count: EvidenceCount);
        long[] labels = SafetensorsDataset.Read(dataset).Labels!;
        using Sequential collapsed = Mlp(answered);

        ProbeOutcome outcome = await RunAsync(collapsed, dataset);

        Assert.Equal(Verdict.Inconclusive, outcome.Verdict);
        Assert.Null(outcome.Score);
        Assert.Contains("not shown to be above", outcome.Summary, StringComparison.Ordinal);
        var check = (JsonObject)outcome.Details["taskCheck"]!;
        Assert.True((bool)check["tested"]!);
        Assert.False((bool)check["aboveChance"]!);
        Assert.Equal(EvidenceCount, (int)check["evidenceInputs"]!);
        Assert.Equal(labels.Count(l => l == answered), (int)check["correct"]!);
        Assert.Equal(labels.GroupBy(l => l).Max(g => g.Count()) / (double)EvidenceCount, (double)check["chanceAccuracy"]!, 4);
        Assert.Null(outcome.Details["detectors"]);
    }

    /// <summary>Every trojan probe an audit can run besides trojan-likelihood, by name.</summary>
    public static TheoryData<string> TrojanDetectors() =>
        [.. TrojanProbes.All().Select(p => p.Descriptor.Name), new TrojanCausalTraceProbe().Descriptor.Name];

    // A supporting detector on a collapsed model would name the class it collapsed onto as a backdoor target (Neural
    // Cleanse finds a trigger of L1 norm 0 for it); where a profile lets it decide, a broken clean model would fail.
    [Theory]
    [MemberData(nameof(TrojanDetectors))]
    public async Task EveryTrojanDetector_OnACollapsedModel_IsInconclusive_OnTheAuditsOneCheck(string detector)
    {
        string dataset = TrojanFixtures.CleanDataset(normalised: false, count: EvidenceCount);
        long[] labels = SafetensorsDataset.Read(dataset).Labels!;
        using Sequential collapsed = Mlp(answered: 3);

        ProbeOutcome[] outcomes = await RunAsync(collapsed, dataset, ["trojan-likelihood", detector]);
        (ProbeOutcome likelihood, ProbeOutcome outcome) = (outcomes[0], outcomes[1]);

        Assert.Equal(Verdict.Inconclusive, outcome.Verdict);
        Assert.Null(outcome.Score);
        Assert.Null(outcome.Details["statistic"]);
        Assert.Null(outcome.Details["suspectedTargetClass"]);
        Assert.Contains($"{detector} did not run", outcome.Summary, StringComparison.Ordinal);
        var check = (JsonObject)outcome.Details["taskCheck"]!;
        Assert.False((bool)check["aboveChance"]!);
        Assert.Equal(labels.Count(l => l == 3), (int)check["correct"]!);
        Assert.Equal(likelihood.Details["taskCheck"]!.ToJsonString(), check.ToJsonString());
    }

    [Fact]
    public async Task EvidenceWithoutLabels_IsNotTested_AndTheProbeSaysSo()
    {
        string unlabelled = TrojanFixtures.UnlabelledDataset(normalised: false, count: 100);
        using Sequential collapsed = Mlp(answered: 4);

        ProbeOutcome[] outcomes = await RunAsync(collapsed, unlabelled, ["trojan-likelihood", "neural-cleanse"]);

        // Nothing to test against, so the detectors run and decide as before; the findings say the check was not made.
        foreach (ProbeOutcome finding in outcomes)
        {
            Assert.NotEqual(Verdict.Inconclusive, finding.Verdict);
            var check = (JsonObject)finding.Details["taskCheck"]!;
            Assert.False((bool)check["tested"]!);
            Assert.Contains("no labels", (string)check["reason"]!, StringComparison.Ordinal);
            // What the model answered is recorded: here one class for everything.
            Assert.Equal(4, (int)check["predictedCommonestClass"]!);
            Assert.Equal(1.0, (double)check["predictedCommonestShare"]!);
        }

        Assert.Contains("it answered class 4 for 100 % of it", outcomes[0].Summary, StringComparison.Ordinal);
    }

    // A model far above chance but wrong on most of its evidence is outside the domain the verdict's error rates were
    // measured on (docs/probes.md, "Models wrong on most of their evidence"); one right on most of it is read. The
    // evidence is the clean images relabelled around a nearest-class-mean classifier's own answers, so its accuracy is
    // set exactly while its answers stay spread over the classes (the commonest label stays far under one half).
    [Theory]
    [InlineData(35, false)]
    [InlineData(65, true)]
    public async Task AModelWrongOnMostOfItsEvidence_IsInconclusive_AndOneRightOnMostIsRead(int percentRight, bool read)
    {
        string clean = TrojanFixtures.CleanDataset(normalised: false, count: EvidenceCount);
        using Sequential nearestMean = NearestClassMean(SafetensorsDataset.Read(clean));
        string dataset = RelabelledAround(nearestMean, clean, percentRight);
        ProbeOutcome[] outcomes;
        try
        {
            outcomes = await RunAsync(nearestMean, dataset, read ? ["weight-signature"] : ["trojan-likelihood", "weight-signature"]);
        }
        finally
        {
            File.Delete(dataset);
        }

        foreach (ProbeOutcome outcome in outcomes)
        {
            var check = (JsonObject)outcome.Details["taskCheck"]!;
            Assert.Equal(percentRight * EvidenceCount / 100, (int)check["correct"]!);
            Assert.True((double)check["chanceAccuracy"]! < 0.25);
            Assert.Equal(0.5, (double)check["testedAgainst"]!, 12);
            Assert.True((bool)check["aboveChance"]!);
            Assert.Equal(read, (bool)check["aboveLevel"]!);
            if (read)
            {
                Assert.NotEqual(Verdict.Inconclusive, outcome.Verdict);
                Assert.NotNull(outcome.Details["statistic"]);
            }
            else
            {
                Assert.Equal(Verdict.Inconclusive, outcome.Verdict);
                Assert.Null(outcome.Score);
                Assert.Contains("not shown to be right on more than half of them", outcome.Summary, StringComparison.Ordinal);
            }
        }
    }

    /// <summary>A linear nearest-class-mean classifier of the evidence's images: weights the class means, biases −½‖mean‖².</summary>
    private static Sequential NearestClassMean(DatasetArtifact evidence)
    {
        int pixels = evidence.Inputs.Length / evidence.Labels!.Length;
        var weights = new float[10 * pixels];
        var biases = new float[10];
        for (int k = 0; k < 10; k++)
        {
            int[] members = [.. Enumerable.Range(0, evidence.Labels.Length).Where(i => evidence.Labels[i] == k)];
            for (int j = 0; j < pixels; j++)
            {
                weights[(k * pixels) + j] = members.Average(i => evidence.Inputs[(i * pixels) + j]);
            }

            biases[k] = -0.5f * Enumerable.Range(0, pixels).Sum(j => weights[(k * pixels) + j] * weights[(k * pixels) + j]);
        }

        Sequential model = nn.Sequential(("flatten", nn.Flatten()), ("fc", nn.Linear(pixels, 10)));
        using (torch.no_grad())
        using (Tensor w = torch.tensor(weights, [10, pixels]))
        using (Tensor b = torch.tensor(biases))
        {
            ((Linear)model[1]).weight!.copy_(w);
            ((Linear)model[1]).bias!.copy_(b);
        }

        model.eval();
        return model;
    }

    /// <summary>
    /// <paramref name="clean"/>'s images labelled with <paramref name="model"/>'s answer on the first
    /// <paramref name="percentRight"/> of every hundred inputs and with another class (the answer plus one to nine,
    /// by position) on the rest, written to a file of its own.
    /// </summary>
    private static string RelabelledAround(Sequential model, string clean, int percentRight)
    {
        DatasetArtifact evidence = SafetensorsDataset.Read(clean);
        long[] answers;
        using (torch.no_grad())
        using (Tensor images = torch.tensor(evidence.Inputs, [.. evidence.InputShape]))
        using (Tensor logits = model.forward(images))
        using (Tensor argmax = logits.argmax(1))
        {
            answers = argmax.data<long>().ToArray();
        }

        long[] labels = [.. answers.Select((a, i) => i % 100 < percentRight ? a : (a + 1 + (i % 9)) % 10)];
        string path = Path.Combine(Path.GetTempPath(), $"audit-relabelled-{percentRight}-{Guid.NewGuid():N}.safetensors");
        SafetensorsDataset.Write(path, new DatasetArtifact(evidence.Inputs, [.. evidence.InputShape], labels));
        return path;
    }

    /// <summary>784 → 20 → 10 with fixed random weights and a bias of 100 on <paramref name="answered"/>: it answers that class for every input in [0, 1].</summary>
    private static Sequential Mlp(int answered)
    {
        torch.manual_seed(11);
        Sequential model = nn.Sequential(("flatten", nn.Flatten()), ("fc1", nn.Linear(784, 20)), ("relu", nn.ReLU()), ("fc2", nn.Linear(20, 10)));
        using (torch.no_grad())
        {
            ((Linear)model[3]).bias![answered] = 100f;
        }

        model.eval();
        return model;
    }

    private static async Task<ProbeOutcome> RunAsync(Sequential model, string dataset) =>
        Assert.Single(await RunAsync(model, dataset, ["trojan-likelihood"]));

    /// <summary>Runs <paramref name="probes"/> one after another in one evaluation session.</summary>
    private static Task<ProbeOutcome[]> RunAsync(Sequential model, string dataset, string[] probes) =>
        HandBuiltModelRuns.RunAsync(model, dataset, [.. TrojanProbes.All(), new TrojanCausalTraceProbe(), new TrojanLikelihoodProbe()], probes);
}
