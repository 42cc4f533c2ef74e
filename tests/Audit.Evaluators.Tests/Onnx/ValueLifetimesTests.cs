using Audit.Evaluators.Onnx;
using Audit.Evaluators.Onnx.Operators;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Onnx;

/// <summary>
/// An imported graph releases each value after the last node that reads it, so a run holds the live set of the graph,
/// not every value it ever made (a 10 M-parameter transformer's forward was killed at 22 GB before).
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class ValueLifetimesTests
{
    private static readonly OnnxKernel Unused = _ => throw new InvalidOperationException("not run");

    private static Plan PlanOf(params (string[] Inputs, string[] Outputs)[] nodes) => PlanOf(new Dictionary<string, int>(StringComparer.Ordinal), nodes);

    private static Plan PlanOf(Dictionary<string, int> slots, params (string[] Inputs, string[] Outputs)[] nodes)
    {
        int Slot(string name) => slots.TryGetValue(name, out int s) ? s : slots[name] = slots.Count;
        return new Plan([.. nodes.Select((n, i) => new CompiledNode($"node {i}", n.Inputs, n.Outputs, Unused))], Slot);
    }

    /// <summary>Simulates a run: the most values alive at once when every slot is released where the plan says.</summary>
    private static int PeakLive(Plan plan)
    {
        var live = new HashSet<int>();
        int peak = 0;
        for (int n = 0; n < plan.Nodes.Length; n++)
        {
            live.UnionWith(plan.InputSlots[n].Where(s => s >= 0));
            live.UnionWith(plan.OutputSlots[n].Where(s => s >= 0));
            peak = Math.Max(peak, live.Count);
            live.ExceptWith(plan.LastReadBy[n]);
        }

        return peak;
    }

    [Fact]
    public void AChainOfNodes_HoldsTwoValuesAtATime_AndReleasesEachAfterItsLastReader()
    {
        (string[], string[])[] chain = [.. Enumerable.Range(0, 30).Select(i => (new[] { $"v{i}" }, new[] { $"v{i + 1}" }))];
        Plan plan = PlanOf(chain);

        Assert.Equal(2, PeakLive(plan));
        Assert.Equal(31, plan.LastReadBy.Sum(r => r.Length)); // every value released exactly once
    }

    [Fact]
    public void AValueReadByALaterNode_LivesUntilThatNode_AndAnUnreadOutputIsReleasedWhereItIsMade()
    {
        // x → a; a → b (and an unread second output c); a, b → d: a is read last by the third node.
        var slots = new Dictionary<string, int>(StringComparer.Ordinal);
        Plan plan = PlanOf(slots, (["x"], ["a"]), (["a"], ["b", "c"]), (["a", "b"], ["d"]));
        IEnumerable<string> ReleasedAfter(int node) => plan.LastReadBy[node].Select(s => slots.Single(p => p.Value == s).Key).Order();

        Assert.Equal(["x"], ReleasedAfter(0));
        Assert.Equal(["c"], ReleasedAfter(1));
        Assert.Equal(["a", "b", "d"], ReleasedAfter(2));
    }

    [Fact]
    public void AnObjectHeldByTwoSlots_IsDisposedOnlyWhenTheSecondIsReleased()
    {
        using var scope = torch.NewDisposeScope();
        var lifetimes = new ValueLifetimes(2);
        Tensor value = torch.ones(4);
        Tensor?[] values = [lifetimes.Hold(value), lifetimes.Hold(value)]; // e.g. Identity returns its argument

        lifetimes.Release(values, 0);
        Assert.False(value.IsInvalid);
        Assert.Equal(4f, value.sum().item<float>());

        lifetimes.Release(values, 1);
        Assert.True(value.IsInvalid);
        Assert.All(values, Assert.Null);
    }

    [Fact]
    public void KeptSlots_AndTensorsTheRunDoesNotOwn_AreNeverDisposed()
    {
        using var scope = torch.NewDisposeScope();
        var lifetimes = new ValueLifetimes(3);
        Tensor output = torch.ones(2), input = torch.ones(2), made = torch.ones(2);
        lifetimes.Keep(0);
        Tensor?[] values = [lifetimes.Hold(output), lifetimes.Protect(input), lifetimes.Hold(made)];

        lifetimes.Release(values, 0);
        lifetimes.Release(values, 1);
        lifetimes.Release(values, 2);
        lifetimes.ReleaseIfUnheld(input);

        Assert.Same(output, values[0]);
        Assert.False(output.IsInvalid);
        Assert.False(input.IsInvalid);
        Assert.True(made.IsInvalid);
    }
}
