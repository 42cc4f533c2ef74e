using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// The trojan scan starts refining the audited model's triggers before it knows the candidates (while the reference
/// distils), every class treated as one, and settles once they are known. Whenever the speculation is paused, the
/// triggers, norms, starts and steps must be exactly those of a refinement run after the screening with the candidates
/// known.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class SpeculativeRefinementTests
{
    private const int Screening = 30;

    [Fact]
    public void SpeculatingThenSettling_GivesTheTriggersOfARefinementThatKnewTheCandidates()
    {
        using ClassifierEvidence evidence = Load(TrojanFixtures.BadNets);
        ReverseEngineeringSettings settings = Settings();
        var every = Enumerable.Range(0, evidence.Classes).ToHashSet();

        // Candidates the schedule could have chosen; the backdoor's target among them, and two ordinary classes.
        int[] candidates = [.. new[] { TrojanFixtures.BadNets.TargetClass, 0, 7 }.Distinct().Order()];
        ReverseEngineeredTriggers known = KnownCandidates(evidence, settings, every, candidates);

        // Paused before its first step, after one check round, after several, and never (until every row stopped).
        foreach (int pauseAfter in new[] { 0, 10, 60, int.MaxValue })
        {
            ReverseEngineeredTriggers speculated = Speculated(evidence, settings, every, candidates, pauseAfter);

            Assert.Equal(known.MaskNorms, speculated.MaskNorms);
            Assert.Equal(known.AttackSuccess, speculated.AttackSuccess);
            Assert.Equal(known.Reached, speculated.Reached);
            Assert.Equal(known.Starts, speculated.Starts);
            Assert.Equal(known.Steps, speculated.Steps);
            for (int k = 0; k < evidence.Classes; k++)
            {
                Assert.Equal(known.Masks[k], speculated.Masks[k]);
                Assert.Equal(known.Patterns[k], speculated.Patterns[k]);
            }
        }

        // Not a vacuous comparison: the candidates got their extra start, and refinement ran past the screening.
        Assert.All(candidates, k => Assert.Equal(2, known.Starts[k]));
        Assert.True(known.Steps > Screening, $"steps {known.Steps}");
    }

    private static ReverseEngineeredTriggers KnownCandidates(ClassifierEvidence evidence, ReverseEngineeringSettings settings, HashSet<int> every, int[] candidates)
    {
        using var search = new TriggerSearch(evidence, settings);
        search.AddStarts(every, 1);
        search.Run(every, Screening, every, settings.EarlyStopPatience, settings.EarlyStopPatience, null, CancellationToken.None);
        search.AddStarts(candidates, settings.Restarts);
        search.Run(every, settings.MaxSteps, candidates.ToHashSet(), settings.EarlyStopPatience, ShortPatience(settings), null, CancellationToken.None);
        return search.Result(every);
    }

    private static ReverseEngineeredTriggers Speculated(ClassifierEvidence evidence, ReverseEngineeringSettings settings, HashSet<int> every, int[] candidates, int pauseAfter)
    {
        using var search = new TriggerSearch(evidence, settings);
        search.AddStarts(every, 1);
        search.Run(every, Screening, every, settings.EarlyStopPatience, settings.EarlyStopPatience, null, CancellationToken.None);
        int screened = search.Steps;
        int steps = 0;
        search.RunSpeculatively(every, settings.MaxSteps, settings.EarlyStopPatience, ShortPatience(settings), () => steps++ >= pauseAfter, CancellationToken.None);
        search.SettleSpeculation(candidates.ToHashSet());

        using var later = new TriggerSearch(evidence, settings);
        later.AlignSteps(screened);
        later.AddStarts(candidates, settings.Restarts, firstStart: 1);
        later.Run(every, settings.MaxSteps, candidates.ToHashSet(), settings.EarlyStopPatience, ShortPatience(settings), null, CancellationToken.None);
        search.Run(every, settings.MaxSteps, candidates.ToHashSet(), settings.EarlyStopPatience, ShortPatience(settings), null, CancellationToken.None);
        return search.Result(every, later, Math.Max(search.StepsEndedAt(screened), later.StepsEndedAt(screened)));
    }

    private static int ShortPatience(ReverseEngineeringSettings settings) => Math.Max(2, settings.EarlyStopPatience / 2);

    /// <summary>The scan's settings, shortened (fewer steps and inputs) so that four runs take seconds.</summary>
    private static ReverseEngineeringSettings Settings()
    {
        var probe = new NeuralCleanseProbe();
        ProbeContext context = ProbeHarness.Context(probe, TrojanFixtures.Get(TrojanFixtures.BadNets));
        return TrojanProbeParameters.ReverseEngineering(new ProbeParameters(context, probe.Descriptor), seed: 7) with
        {
            MaxSteps = 160,
            SamplesPerClass = 8,
            ScreeningSteps = Screening,
        };
    }

    private static ClassifierEvidence Load(FixtureRecipe recipe)
    {
        ProbeContext context = ProbeHarness.Context(new NeuralCleanseProbe(), TrojanFixtures.Get(recipe));
        return ClassifierEvidence.Load(context, [], CancellationToken.None);
    }
}
