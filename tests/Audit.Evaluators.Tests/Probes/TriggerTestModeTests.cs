using System.Text.Json;
using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// STRIP, activation clustering and spectral signatures in their two modes, on the clean fixture (whose smallest
/// recovered trigger is no candidate, so the modes differ). They reuse the fixture's shared trigger scan.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class TriggerTestModeTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> Probes => new()
    {
        { "strip", "detectionRate" },
        { "activation-clustering", "stampedOverlap" },
        { "spectral-signatures", "stampedShareAmongOutliers" },
    };

    [Theory]
    [MemberData(nameof(Probes))]
    public async Task CandidateMode_IsTheDefault_AndGatesOnNeuralCleansesCandidate(string name, string measurement)
    {
        ProbeOutcome outcome = await Run(name, null);

        Assert.Equal("candidate", (string)outcome.Details["mode"]!);
        Assert.False((bool)outcome.Details["candidateTrigger"]!);
        Assert.Equal(0, (double)outcome.Details["statistic"]!);
        Assert.Equal(Verdict.Pass, outcome.Verdict);
        Assert.NotNull(outcome.Details[measurement]);
    }

    [Theory]
    [MemberData(nameof(Probes))]
    public async Task IndependentMode_ScoresTheUngatedMeasurement_AndSaysSo(string name, string measurement)
    {
        ProbeOutcome gated = await Run(name, null);
        ProbeOutcome independent = await Run(name, "independent");

        Assert.Equal("independent", (string)independent.Details["mode"]!);
        Assert.False((bool)independent.Details["candidateTrigger"]!);
        Assert.Equal((double)gated.Details[measurement]!, (double)independent.Details[measurement]!);
        Assert.Equal((double)independent.Details[measurement]!, (double)independent.Details["statistic"]!);
        Assert.Equal((double)independent.Details["statistic"]! / (double)independent.Details["threshold"]!, independent.Score!.Value, 9);
        Assert.Equal(independent.Score >= 1 ? Verdict.Fail : Verdict.Pass, independent.Verdict);
        Assert.StartsWith("Independent mode", independent.Summary, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("strip")]
    [InlineData("activation-clustering")]
    [InlineData("spectral-signatures")]
    public void UnknownMode_IsRejectedByValidation(string name)
    {
        IProbe probe = Probe(name);
        var errors = ProbeCatalog.Validate(probe.Descriptor, new Dictionary<string, JsonElement> { ["mode"] = JsonSerializer.SerializeToElement("ungated") });

        Assert.Contains(errors, e => e.Parameter == "mode" && e.Message.Contains("'independent'", StringComparison.Ordinal));
        Assert.Empty(ProbeCatalog.Validate(probe.Descriptor, new Dictionary<string, JsonElement> { ["mode"] = JsonSerializer.SerializeToElement("independent") }));
    }

    private static IProbe Probe(string name) => name switch
    {
        "strip" => new StripProbe(),
        "activation-clustering" => new ActivationClusteringProbe(),
        _ => new SpectralSignatureProbe(),
    };

    private async Task<ProbeOutcome> Run(string name, string? mode)
    {
        IProbe probe = Probe(name);
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Clean);
        Dictionary<string, object>? parameters = mode is null ? null : new() { ["mode"] = mode };
        ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, fixture, parameters: parameters), CancellationToken.None);
        output.WriteLine($"{name} ({mode ?? "default"}): {outcome.Verdict} score {outcome.Score:F3}: {outcome.Summary}");
        return outcome;
    }
}
