using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Sessions;
using Audit.Evaluators.Tests.Fixtures;
using Audit.Testing.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// trojan-likelihood starts the detectors that need only the scan's distilled reference (the contrastive search) with
/// the scan, so their lanes share the cores with the scan's. Run that way, a detector must give exactly the finding its
/// turn would give, and must not outlive the probe when the probe ends early.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class TrojanLikelihoodBesideTheScanTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TheContrastiveSearchBesideTheScan_GivesTheFindingItsTurnWouldGive()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.BadNets);
        var probe = new TrojanLikelihoodProbe();
        IProbe contrastive = TrojanProbes.All().Single(d => d.Descriptor.Name == "contrastive-patch");
        Assert.IsAssignableFrom<IRunsBesideTheScan>(contrastive);

        var session = new SessionCache();
        ProbeContext context = ProbeHarness.Context(probe, fixture, session: session, parameters: Defaults(probe));
        ProbeOutcome likelihood = await probe.RunAsync(context, CancellationToken.None);
        Assert.NotEqual(Verdict.Inconclusive, likelihood.Verdict);
        ProbeContext derived = TrojanLikelihoodProbe.Derive(context, contrastive.Descriptor, new Progress<double>());
        Assert.True(SharedOutcome.IsStarted(derived, contrastive.Descriptor));
        ProbeOutcome beside = await contrastive.RunAsync(derived, CancellationToken.None);

        // The same detector in its turn, in an audit where nothing ran beside the scan (and no scan ran at all).
        ProbeContext fresh = TrojanLikelihoodProbe.Derive(ProbeHarness.Context(probe, fixture, session: new SessionCache(), parameters: Defaults(probe)), contrastive.Descriptor, new Progress<double>());
        ProbeOutcome alone = await contrastive.RunAsync(fresh, CancellationToken.None);
        output.WriteLine($"contrastive-patch: {alone.Details["statistic"]} alone, {beside.Details["statistic"]} beside the scan");

        Assert.Equal(alone.Verdict, beside.Verdict);
        Assert.Equal(alone.Score, beside.Score);
        Assert.Equal(WithoutTimes(alone.Details), WithoutTimes(beside.Details));
        Assert.Equal(alone.Details["statistic"]!.GetValue<double>(), likelihood.Details["detectors"]!["contrastive-patch"]!["statistic"]!.GetValue<double>());
    }

    [Fact]
    public async Task ADetectorBesideTheScan_StartsBeforeTheScanEnds_AndStopsWhenTheProbeEndsEarly()
    {
        var besideStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool besideStopped = false;
        IProbe[] detectors = [.. TrojanProbes.All().Select(real => real.Descriptor.Name switch
        {
            // The scan waits until the detector beside it has started, then is inconclusive: the probe ends at once.
            "neural-cleanse" => new FakeDetector(real.Descriptor, async cancellationToken =>
            {
                await besideStarted.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
                return ProbeOutcome.Inconclusive("fake scan: nothing to read");
            }),
            "contrastive-patch" => new FakeDetectorBesideTheScan(real.Descriptor, async cancellationToken =>
            {
                besideStarted.SetResult();
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }
                finally
                {
                    besideStopped = true;
                }

                return ProbeOutcome.Inconclusive("never reached");
            }),
            _ => real,
        })];
        var probe = new TrojanLikelihoodProbe(TrojanLikelihoodModel.Embedded(), detectors);

        ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, TrojanFixtures.Get(TrojanFixtures.Clean), parameters: Defaults(probe)), CancellationToken.None);

        Assert.Equal(Verdict.Inconclusive, outcome.Verdict);
        Assert.Contains("neural-cleanse", outcome.Summary, StringComparison.Ordinal);
        Assert.True(besideStopped, "the detector beside the scan was still running when the probe returned");
    }

    /// <summary>
    /// Beside the scan only while the scan refines every class (up to 16): above that its lanes are rarely idle and a
    /// second working set only adds memory. Read on exported models of 16 and 17 classes, as an audit loads them.
    /// </summary>
    [Theory]
    [InlineData(16, true)]
    [InlineData(17, false)]
    public void TheSearchRunsBesideTheScan_OnlyWhileTheScanRefinesEveryClass(int classes, bool beside)
    {
        string folder = Directory.CreateTempSubdirectory("beside-the-scan-").FullName;
        try
        {
            string onnx = Path.Combine(folder, "model.onnx");
            string dataset = Path.Combine(folder, "evidence.safetensors");
            torch.manual_seed(classes);
            using (Sequential model = nn.Sequential(("flatten", nn.Flatten()), ("fc", nn.Linear(64, classes))))
            {
                model.eval();
                SequentialOnnxExporter.Save(model, [1, 8, 8], onnx);
            }

            using (var generator = new torch.Generator(3))
            using (torch.Tensor inputs = torch.rand([40, 1, 8, 8], generator: generator))
            {
                SafetensorsDataset.Write(dataset, new DatasetArtifact(inputs.data<float>().ToArray(), [40, 1, 8, 8], null));
            }

            var probe = new TrojanLikelihoodProbe();
            using var source = new OnnxModelSource(onnx, ComputeDevice.Cpu);
            var context = new ProbeContext
            {
                ModelPath = onnx,
                DatasetPath = dataset,
                Parameters = ProbeCatalog.WithDefaults(probe.Descriptor, new Dictionary<string, JsonElement>()),
                Threshold = probe.Descriptor.DefaultThreshold,
                Seed = 1,
                Device = ComputeDevice.Cpu,
                Models = source,
                Progress = new Progress<double>(),
                Evidence = new AuditEvidence(dataset, ComputeDevice.Cpu),
                Session = new SessionCache(),
            };

            IReadOnlyList<IProbe> started = probe.BesideTheScan(context, CancellationToken.None);

            Assert.Equal(beside ? ["contrastive-patch"] : [], started.Select(d => d.Descriptor.Name));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The probe's parameters at their defaults, as a profile that names none gives them.</summary>
    private static Dictionary<string, object> Defaults(TrojanLikelihoodProbe probe) =>
        probe.Descriptor.Parameters.ToDictionary(p => p.Name, p => (object)p.Default);

    /// <summary>The details without the wall-clock seconds a finding records.</summary>
    private static string WithoutTimes(JsonObject details)
    {
        var copy = (JsonObject)details.DeepClone();
        copy.Remove("searchSeconds");
        return copy.ToJsonString();
    }

    private class FakeDetector(ProbeDescriptor descriptor, Func<CancellationToken, Task<ProbeOutcome>> run) : IProbe
    {
        public ProbeDescriptor Descriptor { get; } = descriptor;

        public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) => run(cancellationToken);
    }

    private sealed class FakeDetectorBesideTheScan(ProbeDescriptor descriptor, Func<CancellationToken, Task<ProbeOutcome>> run)
        : FakeDetector(descriptor, run), IRunsBesideTheScan
    {
        public ProbeOutcome RunHere(ProbeContext context, CancellationToken cancellationToken) => RunAsync(context, cancellationToken).GetAwaiter().GetResult();
    }
}
