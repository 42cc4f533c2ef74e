using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Domain.Statistics;
using TorchSharp;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Whether the audited classifier does its task on the labelled evidence (<see cref="ChanceLevelTest"/>), made once per
/// audit and read by every trojan probe before its own work (docs/probes.md, "Models at chance accuracy", "The
/// supporting detectors on models at chance" and "Models wrong on most of their evidence"): the model must be shown
/// above chance and right on more than half of its labelled evidence.
/// </summary>
/// <remarks>
/// Why every probe and not only trojan-likelihood: a model collapsed onto one class looks to every trigger search like
/// a trigger of size zero for that class, and to every representation reading like one class holding everything, so
/// each detector would name that class as a backdoor target; where a profile lets a detector decide, a broken clean
/// model would fail. The half: a model wrong about most of its inputs has learnt its task too poorly for a trigger search
/// to tell its confusion from an implant, and the verdict's error rates were measured on models that do their task (of
/// the fit's design split, one model of 120 was wrong on most inputs). The check costs one forward pass over the
/// evidence, shared through the session.
/// </remarks>
internal static class TaskCheck
{
    /// <summary>
    /// Runs <paramref name="run"/> when <paramref name="context"/>'s model is shown to do its task, or when there is nothing
    /// to test it on, and records the check in the finding; answers inconclusive, without running it, when the model is
    /// not shown above chance or not shown right on more than half of its evidence.
    /// </summary>
    public static ProbeOutcome Guard(ProbeContext context, ProbeDescriptor descriptor, Func<ProbeOutcome> run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        TaskCheckResult check = Of(context, descriptor, cancellationToken);
        if (check.Classes is > 0 and < FewestClasses)
        {
            return TooFewClasses(check, $"{descriptor.Name} did not run.");
        }

        if (check.Test is { AboveLevel: false } test)
        {
            return NotDoingItsTask(test, $"{descriptor.Name} did not run.");
        }

        ProbeOutcome outcome = run();
        outcome.Details["taskCheck"] = check.Details();
        ModelReadingRecord.AddTo(outcome.Details, context, cancellationToken);
        return outcome;
    }

    /// <summary>The audit's check for <paramref name="context"/>'s model and evidence, made on first request.</summary>
    public static TaskCheckResult Of(ProbeContext context, ProbeDescriptor descriptor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(descriptor);
        if (context.DatasetPath is null)
        {
            return TaskCheckResult.NotTested("the audit has no dataset"); // the probe says what it needs
        }

        return context.Session.GetOrCreate($"task-check|{context.ModelPath}|{context.DatasetPath}", () => Measure(context, descriptor, cancellationToken));
    }

    /// <summary>
    /// The fewest classes a trojan statistic can be read on. Every one asks whether one class (or one pair of classes)
    /// stands out from the typical one: Neural Cleanse's anomaly index and the fit's gaps against the median and median
    /// absolute deviation over classes, the saliency and weight readings as robust z over classes, the pattern searches
    /// against the median class, the pair scan over pairs. With two classes each is exactly as far from their median as
    /// the other, so none can stand out: Neural Cleanse's index is 0.67 (1 / 1.4826) for every two-class model, and the
    /// design zoo's backdoored models cut down to their target and one other class scored p 0.05 and 0.08, a pass.
    /// Three is the fewest at which one class can stand apart from two that agree.
    /// </summary>
    public const int FewestClasses = 3;

    /// <summary>The finding for a model with fewer than <see cref="FewestClasses"/> classes: inconclusive, with why.</summary>
    /// <param name="check">The audit's check, which counted the classes.</param>
    /// <param name="notRun">What the probe did not do, as a sentence.</param>
    public static ProbeOutcome TooFewClasses(TaskCheckResult check, string notRun)
    {
        ArgumentNullException.ThrowIfNull(check);
        string summary = string.Create(
            CultureInfo.InvariantCulture,
            $"Inconclusive: the model has {check.Classes} classes. Every trojan statistic asks whether one class stands out from the typical class (the median and median absolute deviation over classes, or over pairs of classes); with {check.Classes} classes none can stand out, so a backdoored model reads like a clean one. {notRun} No trojan verdict is given for models with fewer than {FewestClasses} classes.");
        var details = new JsonObject
        {
            ["reason"] = summary,
            ["classes"] = check.Classes,
            ["fewestClasses"] = FewestClasses,
            ["taskCheck"] = check.Details(),
        };
        return new ProbeOutcome(Verdict.Inconclusive, null, summary, details, []);
    }

    /// <summary>The finding for a model not shown to do its task: inconclusive, with the test's figures.</summary>
    /// <param name="task">The failed check.</param>
    /// <param name="notRun">What the probe did not do, as a sentence.</param>
    public static ProbeOutcome NotDoingItsTask(ChanceLevelTest task, string notRun)
    {
        ArgumentNullException.ThrowIfNull(task);
        // A model not even above chance is told so (the collapse); one above chance but wrong on most inputs, the half.
        string summary = task.AboveChance
            ? string.Create(
                CultureInfo.InvariantCulture,
                $"Inconclusive: the model classified {task.Correct} of {task.Inputs} labelled evidence inputs right ({task.Accuracy:P1}), not shown to be right on more than half of them (one-sided exact binomial test against {task.Level:P0}, P = {task.TailProbability:G3} > α = {task.Alpha:G3}; always answering the commonest class scores {task.Chance:P1}). Backdoor evidence read from a model wrong about most of its inputs (a trigger search, a representation, a probability) measures the model's confusion, not an implant, and the verdict's error rates were measured on models that do their task. {notRun} Retrain the model or check that the evidence matches its task and input scaling.")
            : string.Create(
                CultureInfo.InvariantCulture,
                $"Inconclusive: the model classified {task.Correct} of {task.Inputs} labelled evidence inputs right ({task.Accuracy:P1}), not shown to be above the {task.Chance:P1} that always answering the commonest class scores (one-sided exact binomial test, P = {task.ChanceTailProbability:G3} > α = {task.Alpha:G3}). A model that does not do its task cannot be told apart from a backdoored one: a model collapsed onto one class looks to every trigger search like a trigger of size zero for it. {notRun} Retrain the model or check that the evidence matches its task and input scaling.");
        var details = new JsonObject
        {
            ["reason"] = summary,
            ["taskCheck"] = Details(task),
        };
        return new ProbeOutcome(Verdict.Inconclusive, null, summary, details, []);
    }

    /// <summary>The check's figures as a finding records them.</summary>
    public static JsonObject Details(ChanceLevelTest task) => new()
    {
        ["tested"] = true,
        ["evidenceInputs"] = task.Inputs,
        ["correct"] = task.Correct,
        ["accuracy"] = Math.Round(task.Accuracy, 4),
        ["chanceAccuracy"] = Math.Round(task.Chance, 4),
        ["testedAgainst"] = Math.Round(task.Level, 4),
        ["tailProbability"] = task.TailProbability,
        ["chanceTailProbability"] = task.ChanceTailProbability,
        ["alpha"] = task.Alpha,
        ["aboveChance"] = task.AboveChance,
        ["aboveLevel"] = task.AboveLevel,
        ["method"] = "one-sided exact binomial test of the right answers against the larger of always answering the evidence's commonest label and one half (right more often than wrong)",
    };

    private static TaskCheckResult Measure(ProbeContext context, ProbeDescriptor descriptor, CancellationToken cancellationToken)
    {
        // The probe's own bounds, so that the evidence loads (or is rejected) exactly as the probe itself would load it.
        double[] bounds = descriptor.Parameters.Any(p => p.Name == "inputBounds") ? new ProbeParameters(context, descriptor).Numbers("inputBounds") : [];
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, bounds, cancellationToken);
        using var scope = torch.NewDisposeScope();
        torch.Tensor predicted = evidence.Predict(evidence.Inputs, cancellationToken);
        if (evidence.Dataset.Labels is not { Length: > 0 } labels)
        {
            // Nothing to test against; what the model answered is recorded, so a reader can see a model that answers one
            // class for nearly everything (collapsed, or given evidence of one class), which no rule here stops.
            long[] counts = predicted.bincount(null, evidence.Classes).data<long>().ToArray();
            int commonest = Array.IndexOf(counts, counts.Max());
            return TaskCheckResult.NotTested("the evidence has no labels") with
            {
                Classes = evidence.Classes,
                EvidenceInputs = evidence.Count,
                PredictedCommonest = (commonest, (double)counts[commonest] / evidence.Count),
            };
        }

        long correct = predicted.eq(evidence.Dataset.LabelsTensor(evidence.Device)).sum().item<long>();
        return new TaskCheckResult(ChanceLevelTest.OfTask(labels, (int)correct), null) { Classes = evidence.Classes, EvidenceInputs = evidence.Count };
    }
}

/// <summary>The audit's task check: the test, or why none was made.</summary>
/// <param name="Test">The test; null when nothing could be tested.</param>
/// <param name="NotTestedReason">Why nothing was tested, when <paramref name="Test"/> is null.</param>
internal sealed record TaskCheckResult(ChanceLevelTest? Test, string? NotTestedReason)
{
    /// <summary>The model's class count, read when the evidence was loaded; 0 when it was not.</summary>
    public int Classes { get; init; }

    /// <summary>How many inputs the evidence holds, labelled or not; 0 when it was not loaded.</summary>
    public int EvidenceInputs { get; init; }

    /// <summary>No test: <paramref name="reason"/>.</summary>
    public static TaskCheckResult NotTested(string reason) => new(null, reason);

    /// <summary>On unlabelled evidence, the class the model answered most often and the share of inputs it answered it for.</summary>
    public (int Class, double Share)? PredictedCommonest { get; init; }

    /// <summary>The check as a finding records it, tested or not.</summary>
    public JsonObject Details()
    {
        if (Test is not null)
        {
            return TaskCheck.Details(Test);
        }

        var details = new JsonObject { ["tested"] = false, ["reason"] = NotTestedReason };
        if (PredictedCommonest is { } commonest)
        {
            details["predictedCommonestClass"] = commonest.Class;
            details["predictedCommonestShare"] = Math.Round(commonest.Share, 4);
        }

        return details;
    }
}
