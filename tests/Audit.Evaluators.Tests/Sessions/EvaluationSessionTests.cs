using System.Text.Json;
using Audit.Domain.Findings;
using Audit.Evaluators.Inventory;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Tests.Fixtures;

namespace Audit.Evaluators.Tests.Sessions;

[Collection(NativeTorch.Collection)]
public sealed class EvaluationSessionTests
{
    private static readonly ProbeInvocation Inventory = new("model-inventory", new Dictionary<string, JsonElement>(), null);

    [Fact]
    public async Task AnInventoryPassedToTheSession_IsWhatTheInventoryProbeReports_WithoutReadingTheModelAgain()
    {
        ModelInventory inspected = ModelInspector.Inspect(TrojanFixtures.Get(TrojanFixtures.Clean).OnnxPath) with { ParameterCount = 4242 };
        string missing = Path.Combine(Path.GetTempPath(), $"absent-{Guid.NewGuid():N}.onnx");

        using EvaluationSession session = Runner().Open(missing, null, "cpu", 1, inspected);
        ProbeOutcome outcome = await session.RunAsync(Inventory, new Progress<double>(), CancellationToken.None);

        Assert.Equal(Verdict.Pass, outcome.Verdict);
        Assert.Equal(4242, (long)outcome.Details["inventory"]!["parameterCount"]!);
    }

    [Fact]
    public async Task WithoutAnInventory_TheInventoryProbeInspectsTheFile()
    {
        string model = TrojanFixtures.Get(TrojanFixtures.Clean).OnnxPath;

        using EvaluationSession session = Runner().Open(model, null, "cpu", 1);
        ProbeOutcome outcome = await session.RunAsync(Inventory, new Progress<double>(), CancellationToken.None);

        Assert.Equal(Verdict.Pass, outcome.Verdict);
        Assert.Equal(ModelInspector.Inspect(model).ParameterCount, (long)outcome.Details["inventory"]!["parameterCount"]!);
    }

    private static ProbeRunner Runner() =>
        new(new ProbeCatalog([new ModelInventoryProbe()]), (path, device) => new OnnxModelSource(path, device));
}
