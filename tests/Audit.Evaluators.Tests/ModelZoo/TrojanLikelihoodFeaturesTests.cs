using System.Text.Json.Nodes;
using Audit.Evaluators.Probes.Trojans;

namespace Audit.Evaluators.Tests.ModelZoo;

/// <summary>
/// The meta-classifier's features are named, so a fit can choose among them and a detector added later (whose
/// statistic the zoo's survey adds with <c>--add-probe</c>) enters a refit without code changes.
/// </summary>
public sealed class TrojanLikelihoodFeaturesTests
{
    [Fact]
    public void All_GivesTheBaseFeaturesAndEveryOtherDetectorsStatistic()
    {
        var findings = BaseFindings();
        findings["independent-probe"] = new JsonObject { ["statistic"] = 0.7 };
        findings["no-statistic"] = new JsonObject { ["other"] = 1.0 };

        IReadOnlyDictionary<string, double> features = TrojanLikelihoodFeatures.All(findings);

        Assert.Equal(3.5, features["calibratedAnomalyIndex"]);
        Assert.Equal(Math.Log(4.0 / 0.5), features["logNormGap"], 12);
        Assert.Equal(0.9 - 0.1, features["logRatioGap"], 12);
        Assert.Equal(0.7, features[TrojanLikelihoodFeatures.StatisticOf("independent-probe")]);
        Assert.Equal(TrojanLikelihoodFeatures.Names.Count + 1, features.Count);
    }

    [Fact]
    public void All_WithoutTheBaseDetectors_GivesOnlyTheOtherStatistics()
    {
        var findings = new Dictionary<string, JsonObject> { ["independent-probe"] = new() { ["statistic"] = 0.2 } };

        Assert.Equal(["independent-probe.statistic"], TrojanLikelihoodFeatures.All(findings).Keys);
    }

    [Fact]
    public void AModel_RunsTheDetectorsItsFeaturesName_AndRefusesOnesItCannotGet()
    {
        Assert.Equal(
            [.. TrojanLikelihoodFeatures.BaseDetectors, "independent-probe"],
            TrojanLikelihoodFeatures.DetectorsFor(["calibratedAnomalyIndex", "independent-probe.statistic"]));
        Assert.Equal(TrojanLikelihoodFeatures.BaseDetectors, TrojanLikelihoodFeatures.DetectorsFor(["logNormGap"]));

        TrojanLikelihoodModel model = Model(["calibratedAnomalyIndex", "independent-probe.statistic"]);
        Assert.Throws<ArgumentException>(() => new TrojanLikelihoodProbe(model, TrojanProbes.All()));
        Assert.Throws<InvalidOperationException>(() => model.Select(TrojanLikelihoodFeatures.All(BaseFindings())));
    }

    [Fact]
    public void Select_OrdersTheFeaturesAsTheModelNamesThem()
    {
        TrojanLikelihoodModel model = Model(["stripDetectionRate", "calibratedAnomalyIndex"]);

        Assert.Equal([0.25, 3.5], model.Select(TrojanLikelihoodFeatures.All(BaseFindings())));
    }

    [Fact]
    public void Select_ImputesAnInconclusiveOptionalDetector_AtTheDesignMean_AndNothingElse()
    {
        TrojanLikelihoodModel model = Model(["calibratedAnomalyIndex", "independent-probe.statistic"]) with { Means = [1.0, 4.25] };
        IReadOnlyDictionary<string, double> features = TrojanLikelihoodFeatures.All(BaseFindings());

        double[] values = model.Select(features, new HashSet<string> { "independent-probe" }, out IReadOnlyList<string> imputed);

        Assert.Equal([3.5, 4.25], values);
        Assert.Equal(["independent-probe.statistic"], imputed);
        // At the mean the feature adds nothing to the logit: the other features decide.
        Assert.Equal(model.Intercept + (3.5 - 1.0), model.Logit(values), 12);
        // Not inconclusive but missing (never run), or a base detector's: no imputation.
        Assert.Throws<InvalidOperationException>(() => model.Select(features, new HashSet<string>(), out _));
        TrojanLikelihoodModel baseOnly = Model(["calibratedAnomalyIndex"]);
        Assert.Throws<InvalidOperationException>(() => baseOnly.Select(new Dictionary<string, double>(), new HashSet<string> { "neural-cleanse" }, out _));
        Assert.False(TrojanLikelihoodModel.Imputable("logNormGap"));
        Assert.True(TrojanLikelihoodModel.Imputable("label-specific-scan.statistic"));
    }

    [Fact]
    public void TheThreshold_IsTheConformalQuantile_FlooredWhereTheModelSetsAFloor()
    {
        TrojanLikelihoodModel model = Model(["calibratedAnomalyIndex"]) with { CalibrationCleanProbabilities = [1e-5, 2e-5, 0.7] };

        Assert.Equal(0.7, model.ConformalThreshold(0.05, out double guaranteed));
        Assert.Equal(0.25, guaranteed, 12);
        Assert.Equal(0.5, (model with { CalibrationCleanProbabilities = [1e-5, 2e-5, 3e-5], MinimumThreshold = 0.5 }).ConformalThreshold(0.05, out _));
        Assert.Equal(3e-5, (model with { CalibrationCleanProbabilities = [1e-5, 2e-5, 3e-5] }).ConformalThreshold(0.05, out _));
    }

    private static Dictionary<string, JsonObject> BaseFindings() => new(StringComparer.Ordinal)
    {
        ["neural-cleanse"] = new()
        {
            ["anomalyIndex"] = 3.5,
            ["uncalibratedAnomalyIndex"] = 2.5,
            ["logNormRatios"] = new JsonArray(0.1, 0.9, 1.2),
            ["medianLogNormRatio"] = 0.9,
            ["maskNorms"] = new JsonArray(0.5, 4.0, 6.0),
            ["medianNorm"] = 4.0,
        },
        ["strip"] = new() { ["detectionRate"] = 0.25 },
        ["activation-clustering"] = new() { ["stampedOverlap"] = 0.5 },
        ["spectral-signatures"] = new() { ["stampedShareAmongOutliers"] = 0.75 },
    };

    private static TrojanLikelihoodModel Model(IReadOnlyList<string> features) => new(
        "test", features, [.. features.Select(_ => 0.0)], [.. features.Select(_ => 1.0)], [.. features.Select(_ => 1.0)], 0, 1, 0, [0.1, 0.2], [], 2, 2, 1, 0.05, null);
}
