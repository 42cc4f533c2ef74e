using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Sessions;
using Audit.Evaluators.Tests.Fixtures;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// Saliency persistence on the trojan fixtures: the BadNets model's target (class 3, a 3×3 patch in the bottom-right
/// corner) keeps its saliency on the patch over other classes' inputs; the clean model's classes do not stand apart.
/// Error rates on models the defaults were not chosen on are in docs/probes.md (the zoo's calibration and test splits).
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class SaliencyPersistenceProbeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task BadNetsTarget_KeepsItsSaliencyOnThePatch_TheCleanModelsClassesDoNot()
    {
        var probe = new SaliencyPersistenceProbe();

        ProbeOutcome poisoned = await probe.RunAsync(ProbeHarness.Context(probe, TrojanFixtures.Get(TrojanFixtures.BadNets)), CancellationToken.None);
        ProbeOutcome clean = await probe.RunAsync(ProbeHarness.Context(probe, TrojanFixtures.Get(TrojanFixtures.Clean)), CancellationToken.None);
        output.WriteLine($"badnets: {poisoned.Summary} {poisoned.Details["robustZ"]!.ToJsonString()}");
        output.WriteLine($"clean: {clean.Summary} {clean.Details["robustZ"]!.ToJsonString()}");

        // Measured 2026-12-01: the BadNets target at robust z 3.81 (next class 1.40), the clean model's largest 1.21.
        // 3.81 clears the threshold 3.5 by less than one machine's arithmetic can move a statistic, so the verdict is
        // not asserted; that the target stands apart, and that the clean model is far from the line, are.
        double[] z = [.. poisoned.Details["robustZ"]!.AsArray().Select(v => (double)v!)];
        int target = TrojanFixtures.BadNets.TargetClass;
        Assert.Equal(target, (int)poisoned.Details["suspectedTargetClass"]!);
        Assert.True(z[target] - z.Where((_, k) => k != target).Max() >= 1.5, $"z {string.Join(", ", z)}");
        Assert.Equal(Verdict.Pass, clean.Verdict);
        Assert.True((double)clean.Details["statistic"]! <= 2.5, $"clean statistic {clean.Details["statistic"]}");
    }

    /// <summary>
    /// The same model gave the clean example's saliency persistence 1.3546 in one audit and 1.4402 in the next on one AMD
    /// EPYC (2026-12-01): the probe ran on whichever pool thread it got, at that thread's libtorch thread count. It
    /// pins its thread now, as the scans do; so does the weight signature, the other detector that reads the model alone.
    /// </summary>
    [Theory]
    [InlineData("saliency-persistence")]
    [InlineData("weight-signature")]
    public async Task TheFinding_IsTheSame_WhateverTheHostsThreadCount(string id)
    {
        IProbe probe = id == "saliency-persistence" ? new SaliencyPersistenceProbe() : new WeightSignatureProbe();
        TrainedFixture model = TrojanFixtures.Get(TrojanFixtures.Clean);
        int before = TorchSharp.torch.get_num_threads();
        try
        {
            var findings = new List<string>();
            foreach (int threads in new[] { 1, 2, 4 })
            {
                TorchSharp.torch.set_num_threads(threads);
                // A session of its own each time: the audit's session shares a detector's finding, which would hide a difference.
                ProbeOutcome outcome = await Task.Run(() => probe.RunAsync(ProbeHarness.Context(probe, model, session: new SessionCache()), CancellationToken.None));
                findings.Add(outcome.Details.ToJsonString());
            }

            Assert.All(findings, f => Assert.Equal(findings[0], f));
        }
        finally
        {
            TorchSharp.torch.set_num_threads(before);
        }
    }
}
