using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Causal tracing of a classifier's recovered trojan trigger (Meng et al., "Locating and Editing Factual Associations
/// in GPT", NeurIPS 2022, carried from token positions to a classifier's layers and channels): where in the imported
/// graph does the trigger's effect travel? Describes the trigger the audit's shared Neural Cleanse scan recovered; it
/// does not judge the model (its verdict is always pass, with statistic 0).
/// </summary>
/// <remarks>
/// Clean inputs not predicted as the suspected class are stamped with that class's recovered trigger; those the stamp
/// flips to it are the corrupted runs. For each traced value (a float activation <c>[N, C, …]</c> of the graph whose
/// clean and stamped versions differ, the head's class scores excepted), the clean value is restored into the stamped run — whole, then one channel
/// (index 1) at a time — and the share of stamped inputs whose clean label returns is recorded. Channels are ranked by
/// their single-channel share (ties by the mean absolute clean − stamped difference) and the top ones restored
/// together, growing until <c>restoreTarget</c> of the inputs return: the fewest channels that carry the trigger,
/// against the control of as many channels drawn at random.
/// Assumptions: channel is the second dimension (NCHW, or features of <c>[N, D]</c>); restoring a whole value that
/// cuts the graph (every value of a plain sequential network does) restores everything by construction, so the
/// informative figures are the channel ones; in graphs with skip connections the whole-value share says whether the
/// trigger also travels around the value.
/// </remarks>
public sealed class TrojanCausalTraceProbe : IProbe
{
    /// <summary>Registered name.</summary>
    public const string Name = "trojan-causal-trace";

    /// <summary>Channels above which a value's channels are ranked by their activation difference instead of one restore each.</summary>
    private const int MaxSingleRestores = 512;

    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        Name,
        "Causal trace of the recovered trojan trigger (layers and channels)",
        "Meng et al., Locating and Editing Factual Associations in GPT, NeurIPS 2022 (causal tracing); Wang et al., Neural Cleanse, IEEE S&P 2019 (the traced trigger)",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 1,
        ThresholdMeaning: "Descriptive: locates the layers and channels that carry the recovered trigger and never flags (statistic 0).",
        [
            new ProbeParameter("probeInputs", ProbeParameterType.Integer, "Clean inputs stamped with the recovered trigger (those it flips are traced).", ProbeParameters.Json(64), 10, 2000),
            new ProbeParameter("maxValues", ProbeParameterType.Integer, "Most graph values traced (evenly spread over those the trigger changes).", ProbeParameters.Json(8), 1, 256),
            new ProbeParameter("topChannels", ProbeParameterType.Integer, "Channels named per traced value.", ProbeParameters.Json(5), 1, 64),
            new ProbeParameter("restoreTarget", ProbeParameterType.Number, "Share of flipped inputs whose clean label the top channels must restore together.", ProbeParameters.Json(0.9), 0.1, 1),
            .. TrojanProbeParameters.TriggerTest,
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => TaskCheck.Guard(context, Descriptor, () => Run(context, cancellationToken), cancellationToken), cancellationToken);

    private sealed record ValueTrace(string Value, long[] Shape, double WholeRestored, (int Channel, double Restored)[] Ranked, int ChannelsNeeded, double TopRestored, double RandomRestored, bool RankedByDifference);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        TriggerScan scan = TrojanProbeParameters.RunScan(parameters, evidence, context, new Progress<double>(p => context.Progress.Report(0.7 * p)), cancellationToken);
        int suspected = scan.SuspectedClass;
        bool candidate = TrojanProbeParameters.IsCandidate(parameters, scan);

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        using var generator = new torch.Generator((ulong)context.Seed + 303);
        int count = Math.Min(parameters.Int("probeInputs"), evidence.Count);
        Tensor inputs = evidence.Inputs.index_select(0, torch.randperm(evidence.Count, generator: generator).to(evidence.Device)[..count]);
        Tensor cleanLabels = evidence.Predict(inputs, cancellationToken);
        Tensor stamped = scan.Audited.Stamp(inputs, suspected);
        Tensor flipped = cleanLabels.Ne(suspected).logical_and(evidence.Predict(stamped, cancellationToken).Eq(suspected)).nonzero().view(-1);
        int traced = (int)flipped.shape[0];
        if (traced == 0)
        {
            return ProbeOutcome.Inconclusive($"The recovered class-{suspected} trigger flips none of {count} clean inputs to its class, so there is no triggered run to trace.");
        }

        Tensor clean = inputs.index_select(0, flipped), corrupted = stamped.index_select(0, flipped), labels = cleanLabels.index_select(0, flipped);
        string input = evidence.Model.Inputs[0].Name;
        HashSet<string> outputs = [.. evidence.Model.Outputs.Select(o => o.Name)];
        IReadOnlyDictionary<string, Tensor> cleanRun = evidence.Model.Run(new Dictionary<string, Tensor> { [input] = clean }, evidence.Model.ValueNames);
        IReadOnlyDictionary<string, Tensor> corruptedRun = evidence.Model.Run(new Dictionary<string, Tensor> { [input] = corrupted }, evidence.Model.ValueNames);

        // Float activations with a batch and a channel dimension that the stamp changes; the logits are the answer, not a carrier.
        List<string> changed = [.. evidence.Model.ValueNames.Where(name =>
            !outputs.Contains(name) && name != input
            && cleanRun.TryGetValue(name, out Tensor? a) && corruptedRun.TryGetValue(name, out Tensor? b)
            && a.dtype == ScalarType.Float32 && a.dim() >= 2 && a.shape[0] == traced && a.shape[1] > 1
            && a.ne(b).any().item<bool>())];
        // The head's class scores restore the answer by definition (the target's own logit), so trailing [N, classes] values are left out.
        while (changed.Count > 0 && cleanRun[changed[^1]] is { } head && head.dim() == 2 && head.shape[1] == evidence.Classes)
        {
            changed.RemoveAt(changed.Count - 1);
        }

        int maxValues = parameters.Int("maxValues");
        List<string> names = changed.Count <= maxValues
            ? changed
            : [.. Enumerable.Range(0, maxValues).Select(i => changed[(int)Math.Round(i * (changed.Count - 1) / (double)(maxValues - 1))]).Distinct()];

        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        double target = parameters.Double("restoreTarget");
        var traces = new List<ValueTrace>();
        for (int v = 0; v < names.Count; v++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            traces.Add(Trace(evidence, input, names[v], cleanRun[names[v]], corruptedRun[names[v]], corrupted, labels, target, new Random(context.Seed + v)));
            context.Progress.Report(0.7 + (0.3 * (v + 1) / names.Count));
        }

        int top = parameters.Int("topChannels");

        // The carrier: the value whose trigger effect fits in the smallest share of its channels (then the higher joint restore).
        ValueTrace? carrier = traces.Where(t => t.TopRestored >= target)
            .OrderBy(t => (double)t.ChannelsNeeded / t.Shape[1]).ThenByDescending(t => t.TopRestored).FirstOrDefault();
        var details = new JsonObject
        {
            ["statistic"] = 0,
            ["threshold"] = context.Threshold,
            ["suspectedTargetClass"] = suspected,
            ["candidateTrigger"] = candidate,
            ["candidateAnomalyIndex"] = scan.AnomalyIndex,
            ["probeInputs"] = count,
            ["tracedInputs"] = traced,
            ["restoreTarget"] = target,
            ["valuesChanged"] = changed.Count,
            ["traceSeconds"] = Math.Round(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, 2),
            ["carrierValue"] = carrier?.Value,
            ["carrierChannels"] = carrier is null ? null : new JsonArray([.. carrier.Ranked.Take(carrier.ChannelsNeeded).Select(c => (JsonNode)c.Channel)]),
            ["carrierRestored"] = carrier?.TopRestored,
            ["carrierRandomRestored"] = carrier?.RandomRestored,
            ["values"] = new JsonArray([.. traces.Select(t => (JsonNode)new JsonObject
            {
                ["value"] = t.Value,
                ["shape"] = new JsonArray([.. t.Shape.Select(d => (JsonNode)d)]),
                ["wholeValueRestored"] = Math.Round(t.WholeRestored, 4),
                ["topChannels"] = new JsonArray([.. t.Ranked.Take(top).Select(c => (JsonNode)new JsonObject { ["channel"] = c.Channel, ["restored"] = Math.Round(c.Restored, 4) })]),
                ["channelsNeeded"] = t.ChannelsNeeded,
                ["topChannelsRestored"] = Math.Round(t.TopRestored, 4),
                ["randomChannelsRestored"] = Math.Round(t.RandomRestored, 4),
                ["rankedBy"] = t.RankedByDifference ? "activation difference" : "single-channel restore",
            })]),
            ["method"] = "clean activations restored into the trigger-stamped run (whole value, then single channels, then the top channels together); share of stamped inputs whose clean label returns",
            ["device"] = evidence.Model.Device.Name,
        };
        string who = candidate ? $"the recovered class-{suspected} trigger" : $"the smallest recovered trigger (class {suspected}, not anomalously small: a natural trigger)";
        string summary = carrier is null
            ? string.Create(CultureInfo.InvariantCulture, $"Causal trace of {who} on the {traced} inputs it flips: no traced value lets a subset of its channels restore {target:P0} of them; the effect is spread (describes, does not judge).")
            : string.Create(CultureInfo.InvariantCulture, $"Causal trace of {who} on the {traced} inputs it flips: restoring {carrier.ChannelsNeeded} of {carrier.Shape[1]} channels of '{carrier.Value}' (channels {string.Join(", ", carrier.Ranked.Take(Math.Min(carrier.ChannelsNeeded, top)).Select(c => c.Channel))}{(carrier.ChannelsNeeded > top ? ", …" : "")}) to their clean values returns {carrier.TopRestored:P0} of them to their clean label, against {carrier.RandomRestored:P0} for as many random channels (describes, does not judge).");
        return new ProbeOutcome(Verdict.Pass, 0, summary, details, []);
    }

    /// <summary>Restores one value into the stamped run: whole, per channel, and the top channels together until <paramref name="target"/> returns.</summary>
    private static ValueTrace Trace(ClassifierEvidence evidence, string input, string name, Tensor clean, Tensor corrupted, Tensor stamped, Tensor labels, double target, Random random)
    {
        using var scope = torch.NewDisposeScope();
        int channels = (int)clean.shape[1];
        double Restored(Tensor channelMask)
        {
            using var step = torch.NewDisposeScope();
            Tensor shape = channelMask.view([1, channels, .. Enumerable.Repeat(1L, (int)clean.dim() - 2)]);
            Tensor patched = torch.where(shape, clean, corrupted);
            Tensor logits = evidence.Model.Run(new Dictionary<string, Tensor> { [input] = stamped }, [], new Dictionary<string, Tensor> { [name] = patched })[evidence.Model.Outputs[0].Name];
            return logits.argmax(1).eq(labels).to_type(ScalarType.Float32).mean().item<float>();
        }

        Tensor Mask(IEnumerable<int> chosen)
        {
            var mask = new bool[channels];
            foreach (int c in chosen)
            {
                mask[c] = true;
            }

            return torch.tensor(mask, device: clean.device);
        }

        double whole = Restored(torch.ones(channels, ScalarType.Bool, device: clean.device));
        double[] difference = (clean - corrupted).abs().transpose(0, 1).reshape(channels, -1).mean([1]).to_type(ScalarType.Float64).cpu().data<double>().ToArray();
        bool byDifference = channels > MaxSingleRestores;
        double[] single = byDifference ? new double[channels] : [.. Enumerable.Range(0, channels).Select(c => Restored(Mask([c])))];
        (int Channel, double Restored)[] ranked = [.. Enumerable.Range(0, channels)
            .OrderByDescending(c => single[c]).ThenByDescending(c => difference[c]).ThenBy(c => c)
            .Select(c => (c, single[c]))];

        // The fewest top-ranked channels that restore the target together: doubling, then bisection (restores grow with k
        // in practice, though not by construction; the bisection finds one k where the share crosses the target).
        int[] order = [.. ranked.Select(r => r.Channel)];
        double Joint(int k) => Restored(Mask(order.Take(k)));
        int low = 0, high = 1;
        double atHigh = Joint(1);
        while (atHigh < target && high < channels)
        {
            low = high;
            high = Math.Min(channels, high * 2);
            atHigh = Joint(high);
        }

        // The control: as many channels drawn at random restored together. A trigger carried by those channels in
        // particular restores far more through them than through any same-sized set.
        double RandomJoint(int k) => Restored(Mask(order.OrderBy(_ => random.Next()).Take(k)));
        if (atHigh < target)
        {
            return new ValueTrace(name, clean.shape, whole, ranked, channels, atHigh, atHigh, byDifference);
        }

        // Joint(low) < target (or low = 0) and Joint(high) ≥ target.
        while (high - low > 1)
        {
            int middle = (low + high) / 2;
            double atMiddle = Joint(middle);
            if (atMiddle >= target)
            {
                (high, atHigh) = (middle, atMiddle);
            }
            else
            {
                low = middle;
            }
        }

        return new ValueTrace(name, clean.shape, whole, ranked, high, atHigh, RandomJoint(high), byDifference);
    }
}
