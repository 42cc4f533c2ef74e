using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Sessions;
using Audit.Evaluators.Tests.Fixtures;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// trojan-likelihood offers the detectors it reads that compute on the audited model only (warp, blend, saliency under
/// the embedded fit) as idle work for the trigger scan's audited-model lane, which waits for the reference's
/// distillation. Done early, each must give exactly the finding its turn would have computed, and only on a lane that
/// may use the audited model.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class TrojanLikelihoodEarlyDetectorsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task DetectorsDoneInTheScansWait_GiveTheFindingsTheirTurnWouldGive()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.BadNets);
        var probe = new TrojanLikelihoodProbe();
        IProbe[] early = EarlyDetectors();
        Assert.NotEmpty(early);

        var session = new SessionCache();
        ProbeContext context = ProbeHarness.Context(probe, fixture, session: session);
        probe.OfferEarlyDetectors(context, CancellationToken.None);
        Task never = new TaskCompletionSource().Task;

        // Nothing on the reference: another lane may be computing on the audited model then.
        Assert.Equal(0, session.Idle.RunUntil(never, IdleModel.Reference, CancellationToken.None));
        // Each detector once on the audited model's lane, then nothing left.
        Assert.Equal(early.Length, session.Idle.RunUntil(never, IdleModel.Audited, CancellationToken.None));
        Assert.Equal(0, session.Idle.RunUntil(never, IdleModel.Audited, CancellationToken.None));

        foreach (IProbe detector in early)
        {
            ProbeContext derived = TrojanLikelihoodProbe.Derive(context, detector.Descriptor, new Progress<double>());
            Assert.True(SharedOutcome.IsStarted(derived, detector.Descriptor), detector.Descriptor.Name);
            ProbeOutcome helped = await detector.RunAsync(derived, CancellationToken.None);

            // The same detector in its turn, in an audit where nothing was done early.
            ProbeContext fresh = TrojanLikelihoodProbe.Derive(ProbeHarness.Context(probe, fixture, session: new SessionCache()), detector.Descriptor, new Progress<double>());
            ProbeOutcome alone = await detector.RunAsync(fresh, CancellationToken.None);
            output.WriteLine($"{detector.Descriptor.Name}: {alone.Details["statistic"]} / {helped.Details["statistic"]}");

            Assert.Equal(alone.Verdict, helped.Verdict);
            Assert.Equal(alone.Score, helped.Score);
            Assert.Equal(alone.Details.ToJsonString(), helped.Details.ToJsonString());
            Assert.Equal(alone.Evidence.Select(e => Convert.ToHexString(e.Content)), helped.Evidence.Select(e => Convert.ToHexString(e.Content)));
        }
    }

    [Fact]
    public void OnceTheProbeHasReadItsDetectors_ItsOffersDoNothing()
    {
        var probe = new TrojanLikelihoodProbe();
        var session = new SessionCache();
        using var finished = new CancellationTokenSource();
        finished.Cancel();

        probe.OfferEarlyDetectors(ProbeHarness.Context(probe, TrojanFixtures.Get(TrojanFixtures.Clean), session: session), finished.Token);

        Assert.Equal(0, session.Idle.RunUntil(new TaskCompletionSource().Task, IdleModel.Audited, CancellationToken.None));
    }

    /// <summary>The detectors the embedded fit reads that compute on the audited model only.</summary>
    private static IProbe[] EarlyDetectors()
    {
        IReadOnlyList<string> read = TrojanLikelihoodFeatures.DetectorsFor(TrojanLikelihoodModel.Embedded()!.Features);
        return [.. TrojanProbes.All().Where(d => read.Contains(d.Descriptor.Name) && d is IAuditedModelDetector)];
    }
}
