using Audit.Domain.Findings;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Sessions;
using Audit.Evaluators.Tests.Fixtures;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// A classifier of two classes gets no trojan verdict: every trojan statistic asks whether one class stands out from the
/// typical one, and with two none can (docs/probes.md, "Fewer than three classes"). The model here is the BadNets
/// fixture cut down to its target class and others, on evidence of those classes only: a trained, backdoored model.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class FewClassesTests
{
    [Theory]
    [InlineData(3L, 5L)]
    [InlineData(0L, 3L)]
    public async Task ATwoClassModel_GetsAnInconclusiveFindingFromEveryTrojanProbe_SayingWhy(long first, long second)
    {
        (TrainedFixture fixture, IDifferentiableModel model, string evidence, OnnxModelSource source) = CutDown([first, second]);
        using (source)
        {
            IProbe[] probes = [new TrojanLikelihoodProbe(), new NeuralCleanseProbe(), new StripProbe(), new WeightSignatureProbe(), new SaliencyPersistenceProbe()];
            var session = new SessionCache();
            foreach (IProbe probe in probes)
            {
                ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, fixture, datasetPath: evidence, model: model, session: session), CancellationToken.None);

                Assert.Equal(Verdict.Inconclusive, outcome.Verdict);
                Assert.Contains("the model has 2 classes", outcome.Summary, StringComparison.Ordinal);
                Assert.Contains(probe is TrojanLikelihoodProbe ? "No backdoor detector was run." : $"{probe.Descriptor.Name} did not run.", outcome.Summary, StringComparison.Ordinal);
                Assert.Equal(2, (int)outcome.Details["classes"]!);
                Assert.True((bool)outcome.Details["taskCheck"]!["tested"]!);
            }
        }
    }

    [Fact]
    public async Task AThreeClassModel_IsRead()
    {
        (TrainedFixture fixture, IDifferentiableModel model, string evidence, OnnxModelSource source) = CutDown([3, 5, 7]);
        using (source)
        {
            var probe = new WeightSignatureProbe();
            ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, fixture, datasetPath: evidence, model: model, session: new SessionCache()), CancellationToken.None);

            Assert.Null(outcome.Details["fewestClasses"]);
            Assert.True((bool)outcome.Details["taskCheck"]!["tested"]!);
        }
    }

    /// <summary>The BadNets fixture cut down to <paramref name="classes"/>, with its clean evidence of those classes relabelled in that order.</summary>
    private static (TrainedFixture Fixture, IDifferentiableModel Model, string Evidence, OnnxModelSource Source) CutDown(long[] classes)
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.BadNets);
        var source = new OnnxModelSource(TrojanFixtures.ClassSubsetOnnx(fixture.Recipe, classes), ComputeDevice.Cpu);
        return (fixture, source.Load(CancellationToken.None), TrojanFixtures.CleanDatasetOfClasses(fixture.Recipe.Normalised, classes), source);
    }
}
