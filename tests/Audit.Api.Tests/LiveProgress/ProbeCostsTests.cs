using System.Text.Json;
using Audit.Api.Features.Audits.Running;
using Audit.Domain.Profiles;

namespace Audit.Api.Tests.LiveProgress;

public sealed class ProbeCostsTests
{
    [Fact]
    public void Plan_GivesTheSharedTriggerScanToTheFirstProbeThatNeedsIt()
    {
        Profile profile = ProfileOf(
            Control("inventory", "model-inventory"),
            Control("backdoor", "neural-cleanse", "activation-clustering"));

        IReadOnlyList<double> weights = ProbeCosts.Plan(profile, _ => true);

        Assert.Equal(3, weights.Count);
        Assert.Equal(1.0, weights.Sum(), 9);
        Assert.True(weights[1] > 10 * weights[2], $"scan carrier {weights[1]} vs follower {weights[2]}");
        Assert.True(weights[1] > 10 * weights[0], $"scan carrier {weights[1]} vs inventory {weights[0]}");
    }

    [Fact]
    public void Plan_SkippedControlsWeighNothing_AndTheScanMovesToTheNextProbeThatRuns()
    {
        Profile profile = ProfileOf(
            Control("skipped", "neural-cleanse"),
            Control("running", "spectral-signatures"),
            Control("light", "model-inventory"));

        IReadOnlyList<double> weights = ProbeCosts.Plan(profile, c => c.Id != "skipped");

        Assert.Equal(0, weights[0]);
        Assert.Equal(1.0, weights.Sum(), 9);
        Assert.True(weights[1] > 10 * weights[2]);
    }

    [Fact]
    public void Plan_TheBuiltInTrojanScan_GivesTheScanToTrojanLikelihoodWhichRunsFirst()
    {
        Profile scan = BuiltInProfiles.All.Single(p => p.Id == "trojan-scan" && p.Version == "2.0.0");

        IReadOnlyList<double> weights = ProbeCosts.Plan(scan, _ => true);
        var probes = scan.Controls.SelectMany(c => c.Probes).Select(p => p.Probe).ToList();

        double likelihood = weights[probes.IndexOf("trojan-likelihood")];
        Assert.True(likelihood > 10 * weights[probes.IndexOf("neural-cleanse")], $"scan carrier {likelihood} vs Neural Cleanse {weights[probes.IndexOf("neural-cleanse")]}");
        // The sink's reference walks run inside the scan's waits: once the scan is done, little of the audit is left.
        Assert.True(likelihood > 0.85, $"scan carrier {likelihood}");
        Assert.InRange(weights[probes.IndexOf("adversarial-sink")], 0.01, 0.1);
    }

    [Fact]
    public void Plan_TheAdversarialSinkWeighsItsWholeCost_WhenNoScanRunsBeforeIt()
    {
        Profile alone = ProfileOf(Control("inventory", "model-inventory"), Control("sink", "adversarial-sink"));
        Profile sinkFirst = ProfileOf(Control("sink", "adversarial-sink"), Control("backdoor", "neural-cleanse"));
        Profile scanFirst = ProfileOf(Control("backdoor", "neural-cleanse"), Control("sink", "adversarial-sink"));

        Assert.True(ProbeCosts.Plan(alone, _ => true)[1] > 0.9);
        Assert.True(ProbeCosts.Plan(sinkFirst, _ => true)[0] > 5 * ProbeCosts.Plan(scanFirst, _ => true)[1]);
    }

    [Fact]
    public void Plan_WhenNothingRuns_IsAllZero()
    {
        IReadOnlyList<double> weights = ProbeCosts.Plan(ProfileOf(Control("a", "strip")), _ => false);

        Assert.Equal([0.0], weights);
    }

    private static Profile ProfileOf(params Control[] controls) => new("p", "1.0.0", "P", "test", null, controls);

    private static Control Control(string id, params string[] probes) => new(
        id, "clause", "title",
        probes.Select(p => new ProbeRequirement(p, new Dictionary<string, JsonElement>(), null)).ToList(),
        [], CombineRule.AnyFail);
}
