using System.Text.Json;
using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Sessions;
using Audit.Evaluators.Tests.Fixtures;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// The adversarial sink test on the cached fixtures. Each run gets a fresh session, as an audit whose profile holds
/// only this probe: nothing Neural Cleanse computed (or could have computed) is there to read.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class AdversarialSinkProbeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task BadNetsModel_IsFlagged_WithItsTargetClass_RunningAlone()
    {
        var session = new SessionCache();
        ProbeOutcome outcome = await Run(TrojanFixtures.BadNets, session);

        Assert.Equal(Verdict.Fail, outcome.Verdict);
        Assert.Equal(TrojanFixtures.BadNets.TargetClass, (int)outcome.Details["suspectedTargetClass"]!);
        Assert.True(outcome.Score >= 1);
        Assert.Equal((double)outcome.Details["statistic"]! / (double)outcome.Details["threshold"]!, outcome.Score!.Value, 9);
        Assert.Single(outcome.Evidence);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], outcome.Evidence[0].Content[..4]);

        // Nothing of the trigger scan is read or reported: no candidate, no anomaly index, no recovered trigger.
        Assert.Null(outcome.Details["candidateTrigger"]);
        Assert.Null(outcome.Details["candidateAnomalyIndex"]);
        Assert.DoesNotContain(new AdversarialSinkProbe().Descriptor.Parameters, p => p.Name is "candidateIndex" or "requireAnomalousTrigger" or "maxSteps");
    }

    /// <summary>
    /// The clean fixture scores below the BadNets fixture. Not asserted: a pass with a margin. The clean model's sink
    /// index was 0.79 (score 0.31) on an AMD EPYC and 2.47 (score 0.96, just under the flag) on an Intel Xeon
    /// (2026-12-01): the walks' landings move with the processor's arithmetic, and the probe fails 34 % of held-out clean
    /// zoo models anyway (docs/probes.md), which is why no profile lets it decide.
    /// </summary>
    [Fact]
    public async Task CleanModel_ScoresBelowTheBadNetsModel()
    {
        ProbeOutcome clean = await Run(TrojanFixtures.Clean, new SessionCache());
        ProbeOutcome poisoned = await Run(TrojanFixtures.BadNets, new SessionCache());

        Assert.True(clean.Score < poisoned.Score, $"clean score {clean.Score:F3}, BadNets {poisoned.Score:F3}");
        Assert.Equal(clean.Score >= 1 ? Verdict.Fail : Verdict.Pass, clean.Verdict);
        Assert.Equal(clean.Verdict == Verdict.Fail ? 1 : 0, clean.Evidence.Count);
    }

    [Fact]
    public async Task SameSeed_GivesTheSameFinding_WhateverTheHostsThreadCount()
    {
        int before = TorchSharp.torch.get_num_threads();
        try
        {
            TorchSharp.torch.set_num_threads(1);
            ProbeOutcome one = await Run(TrojanFixtures.Clean, new SessionCache(), parameters: Fast);
            TorchSharp.torch.set_num_threads(2);
            ProbeOutcome two = await Run(TrojanFixtures.Clean, new SessionCache(), parameters: Fast);

            Assert.Equal(one.Details["flows"]!.ToJsonString(), two.Details["flows"]!.ToJsonString());
            Assert.Equal((double)one.Details["statistic"]!, (double)two.Details["statistic"]!);
        }
        finally
        {
            TorchSharp.torch.set_num_threads(before);
        }
    }

    [Theory]
    [InlineData("l0")]
    [InlineData("linf")]
    public async Task WalksDoneEarlyByAnotherProbesIdleLane_GiveTheSameFinding(string norm)
    {
        // 600 inputs: three walk batches at this size. One is walked early (as the trigger scan's waiting lane does),
        // the probe walks the other two; the finding must equal a run that walked all three itself.
        Dictionary<string, object> parameters = new(Fast) { ["probeInputs"] = 600, ["norm"] = norm };
        ProbeOutcome alone = await Run(TrojanFixtures.Clean, new SessionCache(), parameters);

        var probe = new AdversarialSinkProbe();
        var session = new SessionCache();
        ProbeContext context = ProbeHarness.Context(probe, TrojanFixtures.Get(TrojanFixtures.Clean), parameters: parameters, session: session);
        var waitEnds = new TaskCompletionSource();
        int asked = 0;
        // Offered first, so asked before the probe's offer in each round: the wait ends after the first early batch.
        session.Idle.Offer((model, _) =>
        {
            if (model == IdleModel.Audited && ++asked == 2)
            {
                waitEnds.SetResult();
            }

            return false;
        });
        ((IOffersIdleWork)probe).OfferIdleWork(context);
        // The probe offers walks on the audited model only.
        Assert.Equal(0, session.Idle.RunUntil(new TaskCompletionSource().Task, IdleModel.Reference, CancellationToken.None));
        int early = session.Idle.RunUntil(waitEnds.Task, IdleModel.Audited, CancellationToken.None);
        ProbeOutcome helped = await probe.RunAsync(context, CancellationToken.None);

        Assert.Equal(1, early);
        Assert.Equal(alone.Verdict, helped.Verdict);
        Assert.Equal(alone.Details["flows"]!.ToJsonString(), helped.Details["flows"]!.ToJsonString());
        Assert.Equal((double)alone.Details["statistic"]!, (double)helped.Details["statistic"]!);
        Assert.Equal(alone.Details.ToJsonString(), helped.Details.ToJsonString());
    }

    [Fact]
    public async Task ReferenceWalksDoneEarlyByAnotherProbesIdleLane_GiveTheSameFinding()
    {
        // With the reference: once the session holds it (the trigger scan distilled it), a scan lane that finished its
        // share first walks batches of the reference's walks; the finding must equal a run that walked all of them.
        Dictionary<string, object> parameters = new(Fast) { ["probeInputs"] = 600, ["norm"] = "linf", ["referenceCalibration"] = true, ["referenceSteps"] = 50 };
        ProbeOutcome alone = await Run(TrojanFixtures.Clean, new SessionCache(), parameters);

        var probe = new AdversarialSinkProbe();
        var session = new SessionCache();
        ProbeContext context = ProbeHarness.Context(probe, TrojanFixtures.Get(TrojanFixtures.Clean), parameters: parameters, session: session);
        var waitEnds = new TaskCompletionSource();
        bool armed = false;
        int asked = 0;
        // Offered first, so asked before the probe's offer in each round: once armed, the wait ends after one early batch.
        session.Idle.Offer((model, _) =>
        {
            if (armed && model == IdleModel.Reference && ++asked == 2)
            {
                waitEnds.SetResult();
            }

            return false;
        });
        ((IOffersIdleWork)probe).OfferIdleWork(context);
        var never = new TaskCompletionSource();

        // The session's reference, distilled as the trigger scan does (same settings as the probe's).
        ClassifierEvidence evidence = ClassifierEvidence.Load(context, [], CancellationToken.None);
        var settings = new ReferenceSettings(Steps: 50, BatchSize: 128, LearningRate: 3e-3, Temperature: 2, context.Seed);
        using (TorchSharp.torch.Tensor targets = DistilledReference.TeacherTargets(evidence, settings, CancellationToken.None))
        {
            DistilledReference.Shared(evidence, settings, () => targets, CancellationToken.None);
        }

        // No plan of the walks yet: making one may run the audited model, which another lane may be using while a lane
        // idles on the reference, so a reference step does nothing.
        Assert.Equal(0, session.Idle.RunUntil(never.Task, IdleModel.Reference, CancellationToken.None));

        // The scan's audited-model lane walks the audited model's batches while the reference distils (all three here).
        Assert.Equal(3, session.Idle.RunUntil(never.Task, IdleModel.Audited, CancellationToken.None));

        armed = true;
        int early = session.Idle.RunUntil(waitEnds.Task, IdleModel.Reference, CancellationToken.None);
        ProbeOutcome helped = await probe.RunAsync(context, CancellationToken.None);

        Assert.Equal(1, early);
        Assert.Equal(alone.Verdict, helped.Verdict);
        Assert.NotNull(helped.Details["referenceAgreement"]);
        Assert.Equal(alone.Details.ToJsonString(), helped.Details.ToJsonString());
    }

    [Fact]
    public void UnknownNorm_IsRejectedByValidation()
    {
        var probe = new AdversarialSinkProbe();
        var errors = ProbeCatalog.Validate(probe.Descriptor, new Dictionary<string, JsonElement> { ["norm"] = JsonSerializer.SerializeToElement("l7") });

        Assert.Contains(errors, e => e.Parameter == "norm" && e.Message.Contains("'l0'", StringComparison.Ordinal));
    }

    /// <summary>Fewer inputs, no reference: enough to compare two runs, a fraction of the cost.</summary>
    private static Dictionary<string, object> Fast => new() { ["probeInputs"] = 200, ["referenceCalibration"] = false };

    private async Task<ProbeOutcome> Run(FixtureRecipe recipe, SessionCache session, IReadOnlyDictionary<string, object>? parameters = null)
    {
        var probe = new AdversarialSinkProbe();
        TrainedFixture fixture = TrojanFixtures.Get(recipe);
        ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, fixture, parameters: parameters, session: session), CancellationToken.None);
        output.WriteLine($"{recipe.Name}: {outcome.Verdict} score {outcome.Score:F3}: {outcome.Summary}");
        output.WriteLine(outcome.Details.ToJsonString());
        return outcome;
    }
}
