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

    [Fact]
    public async Task LaneProbes_RunSideBySide_UpToTheLaneCount_EachOnOneThread()
    {
        GatedProbe a = new("lane-a", lane: true), b = new("lane-b", lane: true), c = new("lane-c", lane: true);
        using EvaluationSession session = Gated(a, b, c).Open("unused.onnx", null, "cpu", 1, lanes: 2);

        Task<ProbeOutcome>[] runs = [Start(session, a), Start(session, b), Start(session, c)];
        await a.Started.Task.WaitAsync(Patience);
        await b.Started.Task.WaitAsync(Patience);
        await Task.Delay(100);
        Assert.False(c.Started.Task.IsCompleted);

        b.Release.SetResult();
        await c.Started.Task.WaitAsync(Patience);
        a.Release.SetResult();
        c.Release.SetResult();
        ProbeOutcome[] outcomes = await Task.WhenAll(runs);

        Assert.Equal(["lane-a", "lane-b", "lane-c"], outcomes.Select(o => o.Summary));
        Assert.All([a, b, c], p => Assert.True(p.InLane));
    }

    [Fact]
    public async Task AProbeOutsideTheLanes_WaitsForEveryEarlierProbe_AndHoldsBackLaterOnes_WithTheHostsThreads()
    {
        GatedProbe before = new("lane-before", lane: true), alone = new("alone", lane: false), after = new("lane-after", lane: true);
        using EvaluationSession session = Gated(before, alone, after).Open("unused.onnx", null, "cpu", 1, lanes: 2);

        Task<ProbeOutcome>[] runs = [Start(session, before), Start(session, alone), Start(session, after)];
        await before.Started.Task.WaitAsync(Patience);
        await Task.Delay(100);
        Assert.False(alone.Started.Task.IsCompleted);
        Assert.False(after.Started.Task.IsCompleted);

        before.Release.SetResult();
        await alone.Started.Task.WaitAsync(Patience);
        await Task.Delay(100);
        Assert.False(after.Started.Task.IsCompleted);

        alone.Release.SetResult();
        await after.Started.Task.WaitAsync(Patience);
        after.Release.SetResult();
        await Task.WhenAll(runs);

        Assert.False(alone.InLane);
        Assert.True(after.InLane);
    }

    [Fact]
    public async Task Cancelling_StopsProbesWaitingForALane()
    {
        GatedProbe running = new("lane-running", lane: true), waiting = new("lane-waiting", lane: true);
        using var cancel = new CancellationTokenSource();
        using EvaluationSession session = Gated(running, waiting).Open("unused.onnx", null, "cpu", 1, lanes: 1);

        Task<ProbeOutcome> first = session.RunAsync(Invocation(running), new Progress<double>(), cancel.Token);
        Task<ProbeOutcome> second = session.RunAsync(Invocation(waiting), new Progress<double>(), cancel.Token);
        await running.Started.Task.WaitAsync(Patience);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second);
        Assert.False(waiting.Started.Task.IsCompleted);
    }

    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(1);

    private static ProbeInvocation Invocation(GatedProbe probe) => new(probe.Descriptor.Name, new Dictionary<string, JsonElement>(), null);

    [Fact]
    public async Task AProbeThatThrows_IsInconclusive_WithTheReasonAndWhereItFailed()
    {
        var failing = new ThrowingProbe();
        using EvaluationSession session = new ProbeRunner(new ProbeCatalog([failing]), (path, device) => new OnnxModelSource(path, device))
            .Open("unused.onnx", null, "cpu", 1);

        ProbeOutcome outcome = await session.RunAsync(
            new ProbeInvocation(failing.Descriptor.Name, new Dictionary<string, JsonElement>(), null), new Progress<double>(), CancellationToken.None);

        Assert.Equal(Verdict.Inconclusive, outcome.Verdict);
        Assert.Equal("Probe 'throwing' could not complete: the first line", outcome.Summary);
        Assert.Equal(typeof(System.Runtime.InteropServices.ExternalException).FullName, (string)outcome.Details["failure"]!["type"]!);
        string[] frames = [.. outcome.Details["failure"]!["at"]!.AsArray().Select(f => (string)f!)];
        Assert.Contains(frames, f => f.EndsWith("ThrowingProbe.CallIntoTheLibrary", StringComparison.Ordinal));
        Assert.DoesNotContain(outcome.Details.ToJsonString(), "second line", StringComparison.Ordinal);
    }

    /// <summary>
    /// A stored profile may name a parameter its probe has since withdrawn: the probe does not run at settings the
    /// profile did not ask for, and the finding says which parameter and why.
    /// </summary>
    [Fact]
    public async Task AParameterTheProbeDoesNotTake_LeavesItInconclusive_NamingTheParameter_WithoutRunningIt()
    {
        var probe = new GatedProbe("gated", lane: false);
        probe.Release.SetResult(); // were it run, it would pass at once
        using EvaluationSession session = new ProbeRunner(new ProbeCatalog([probe]), (path, device) => new OnnxModelSource(path, device))
            .Open("unused.onnx", null, "cpu", 1);

        ProbeOutcome outcome = await session.RunAsync(
            new ProbeInvocation("gated", new Dictionary<string, JsonElement> { ["maxSteps"] = JsonSerializer.SerializeToElement(200) }, null),
            new Progress<double>(),
            CancellationToken.None);

        Assert.Equal(Verdict.Inconclusive, outcome.Verdict);
        Assert.Contains("has no parameter 'maxSteps'", outcome.Summary, StringComparison.Ordinal);
        Assert.Equal("maxSteps", (string)outcome.Details["invalidParameters"]![0]!);
        Assert.False(probe.Started.Task.IsCompleted);
    }

    /// <summary>Fails as TorchSharp does: an ExternalException whose message carries more lines after the first.</summary>
    private sealed class ThrowingProbe : IProbe
    {
        public ProbeDescriptor Descriptor { get; } = new("throwing", "throwing", "test double", ModelKinds.Any, EvidenceKind.None, 1, "none", []);

        public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) => Task.FromResult(CallIntoTheLibrary());

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        private static ProbeOutcome CallIntoTheLibrary() =>
            throw new System.Runtime.InteropServices.ExternalException("the first line\nthe second line: a native frame");
    }

    private static Task<ProbeOutcome> Start(EvaluationSession session, GatedProbe probe) =>
        session.RunAsync(Invocation(probe), new Progress<double>(), CancellationToken.None);

    private static ProbeRunner Gated(params GatedProbe[] probes) =>
        new(new ProbeCatalog(probes), (path, device) => new OnnxModelSource(path, device));

    /// <summary>A probe that says when it starts and ends only when the test releases it; no tensors.</summary>
    private sealed class GatedProbe(string name, bool lane) : IProbe
    {
        public ProbeDescriptor Descriptor { get; } = new(name, name, "test double", ModelKinds.Any, EvidenceKind.None, 1, "none", []) { RunsInLane = lane };

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool? InLane { get; private set; }

        public async Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken)
        {
            InLane = context.InLane;
            Started.SetResult();
            await Release.Task.WaitAsync(cancellationToken);
            return new ProbeOutcome(Verdict.Pass, 0, Descriptor.Name, [], []);
        }
    }

    private static ProbeRunner Runner() =>
        new(new ProbeCatalog([new ModelInventoryProbe()]), (path, device) => new OnnxModelSource(path, device));
}
