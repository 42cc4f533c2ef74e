using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Sessions;
using Audit.Evaluators.Tests.Fixtures;
using Audit.ModelZoo;
using TorchSharp;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// Neural Cleanse's search against the distilled reference on models that have and lack what it looks for: a patch the
/// audited model follows and its distilled reference does not. Error rates on models the default was not chosen on are in
/// docs/probes.md (the zoo's calibration and test splits).
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class ContrastivePatchInversionProbeTests(ITestOutputHelper output)
{
    /// <summary>The audit seed the zoo's survey runs every model at.</summary>
    private const int SurveySeed = 20240613;

    /// <summary>
    /// A patch over the object (the zoo's design-split recipe 310: a ResNet on 28×28 grey inputs in [0, 1], channels
    /// last, a patch at row 12, column 12, target 0, 76 % accurate), against its clean sibling (recipe 306) at the
    /// survey's audit seed. Log gaps 2.01 and 0.51 in the committed design lines (AMD EPYC, oneDNN AVX, 2026-12-05), 1.80
    /// and 0.51 in this test on the same machine (2026-12-07, the tests' kernels). Until 2026-12-07 this test read recipe 199, an MLP on raw colour bytes with the patch at row 14 (gaps 2.05
    /// and 0.50 against its sibling 197), which is right on 18 % of its evidence: the task check now stops it before
    /// any search (docs/probes.md, "Models wrong on most of their evidence"), so it shows nothing about patches.
    /// </summary>
    [Fact]
    public async Task APatchOverTheObject_IsReachedByAPatchTheReferenceDoesNotFollow_ItsCleanSiblingHasNoSuchClass()
    {
        ZooRecipe patched = ZooProbeRuns.DesignRecipe(310), clean = ZooProbeRuns.DesignRecipe(306);
        Assert.Equal((12, 12), (patched.PatchRow, patched.PatchColumn));
        Assert.Equal((patched.Architecture, patched.Images, patched.Scaling, patched.Layout), (clean.Architecture, clean.Images, clean.Scaling, clean.Layout));

        ProbeOutcome poisoned = await ZooProbeRuns.RunAsync(new ContrastivePatchInversionProbe(), patched, SurveySeed, output);
        ProbeOutcome unpoisoned = await ZooProbeRuns.RunAsync(new ContrastivePatchInversionProbe(), clean, SurveySeed, output);

        double poisonedGap = (double)poisoned.Details["statistic"]!, cleanGap = (double)unpoisoned.Details["statistic"]!;
        Assert.Equal(patched.TargetClass, (int)poisoned.Details["suspectedTargetClass"]!);
        Assert.Equal(Verdict.Fail, poisoned.Verdict);
        Assert.Equal(Verdict.Pass, unpoisoned.Verdict);

        // Far from the line on both sides, not one machine's rounding: an e-fold of mask area between the two models.
        Assert.True(poisonedGap - cleanGap >= 1.0, $"gaps {poisonedGap} and {cleanGap}");
    }

    /// <summary>
    /// The contrast is real: against a reference that is the audited model itself, every stamped input that moves the
    /// model to the target moves the reference too, so no hit counts and no class is reached; only inputs already in
    /// the target can count, so the attack rates of all classes add up to at most one.
    /// </summary>
    [Fact]
    public void AgainstTheModelItself_NoTriggerCounts()
    {
        ProbeContext context = ProbeHarness.Context(new NeuralCleanseProbe(), TrojanFixtures.Get(TrojanFixtures.BadNets));
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, [], CancellationToken.None);
        ReverseEngineeringSettings settings = ShortSettings(context);
        var every = Enumerable.Range(0, evidence.Classes).ToHashSet();

        ReverseEngineeredTriggers plain = Search(evidence, settings, every, null);
        ReverseEngineeredTriggers contrasted = Search(evidence, settings, every, new TriggerContrast(evidence.Model, 1.0));

        // Without the contrast the same schedule does reach the backdoor's target: the test is not vacuous.
        Assert.True(plain.Reached[TrojanFixtures.BadNets.TargetClass], $"plain attack {string.Join(", ", plain.AttackSuccess)}");
        Assert.All(contrasted.Reached, Assert.False);

        // An input counts only for the class it already had, so the classes' attack rates share one whole.
        Assert.True(contrasted.AttackSuccess.Sum() <= 1 + 1e-6, $"contrasted attack {string.Join(", ", contrasted.AttackSuccess)}");
    }

    /// <summary>
    /// The probe splits the classes between two lanes; each row's trajectory is its own, so the split must give exactly
    /// what one search holding every class gives (here against another model as the reference: the clean fixture).
    /// </summary>
    [Fact]
    public void TwoSearchesHoldingHalfTheClassesEach_GiveWhatOneSearchGives()
    {
        ProbeContext context = ProbeHarness.Context(new NeuralCleanseProbe(), TrojanFixtures.Get(TrojanFixtures.BadNets));
        ProbeContext other = ProbeHarness.Context(new NeuralCleanseProbe(), TrojanFixtures.Get(TrojanFixtures.Clean));
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, [], CancellationToken.None);
        using ClassifierEvidence reference = ClassifierEvidence.Load(other, [], CancellationToken.None);
        ReverseEngineeringSettings settings = ShortSettings(context);
        var contrast = new TriggerContrast(reference.Model, 1.0);
        HashSet<int> every = [.. Enumerable.Range(0, evidence.Classes)];

        ReverseEngineeredTriggers whole = ContrastivePatchInversionProbe.Search(evidence, settings, contrast, every, null, CancellationToken.None);
        var split = ContrastivePatchInversionProbe.SearchedClasses.Join(
            evidence.Classes,
            ContrastivePatchInversionProbe.Search(evidence, settings, contrast, [.. every.Where(k => k % 2 == 0)], null, CancellationToken.None),
            ContrastivePatchInversionProbe.Search(evidence, settings, contrast, [.. every.Where(k => k % 2 == 1)], null, CancellationToken.None));

        Assert.Equal(whole.MaskNorms, split.MaskNorms);
        Assert.Equal(whole.AttackSuccess, split.AttackSuccess);
        Assert.Equal(whole.Reached, split.Reached);
        Assert.Equal(whole.Steps, split.Steps);
        Assert.All(whole.MaskNorms, n => Assert.True(double.IsFinite(n)));
    }

    /// <summary>Pinned to the scan's single intra-op thread, as every trojan detector: the host's setting changes nothing.</summary>
    [Fact]
    public async Task TheFinding_IsTheSame_WhateverTheHostsThreadCount()
    {
        var probe = new ContrastivePatchInversionProbe();
        TrainedFixture model = TrojanFixtures.Get(TrojanFixtures.Clean);
        var shortened = new Dictionary<string, object> { ["maxSteps"] = 40, ["referenceSteps"] = 50 };
        int before = torch.get_num_threads();
        try
        {
            var findings = new List<string>();
            foreach (int threads in new[] { 1, 3 })
            {
                torch.set_num_threads(threads);

                // A fresh session each time, so the reference is distilled again at this host setting.
                ProbeContext context = ProbeHarness.Context(probe, model, parameters: shortened, session: new SessionCache());
                ProbeOutcome outcome = await Task.Run(() => probe.RunAsync(context, CancellationToken.None));
                outcome.Details.Remove("searchSeconds");
                findings.Add(outcome.Details.ToJsonString());
            }

            Assert.Equal(findings[0], findings[1]);
        }
        finally
        {
            torch.set_num_threads(before);
        }
    }

    private static ReverseEngineeredTriggers Search(ClassifierEvidence evidence, ReverseEngineeringSettings settings, HashSet<int> every, TriggerContrast? contrast)
    {
        using var search = new TriggerSearch(evidence, settings, contrast);
        search.AddStarts(every, 1);
        search.Run(every, settings.MaxSteps, every, settings.EarlyStopPatience, settings.EarlyStopPatience, null, CancellationToken.None);
        return search.Result(every);
    }

    /// <summary>The scan's settings, shortened so a search takes seconds.</summary>
    private static ReverseEngineeringSettings ShortSettings(ProbeContext context) =>
        TrojanProbeParameters.ReverseEngineering(new ProbeParameters(context, new NeuralCleanseProbe().Descriptor), seed: 5) with
        {
            MaxSteps = 120,
            SamplesPerClass = 8,
        };
}
