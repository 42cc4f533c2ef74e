using System.Numerics;
using System.Text.Json.Nodes;
using Audit.ModelZoo;
using Audit.Testing;

namespace Audit.Evaluators.Tests.ModelZoo;

/// <summary>
/// The supporting trojan controls of the 2.1.0 built-in profiles run at thresholds set on the design split alone
/// (docs/probes.md, "The supporting controls' thresholds, set on the design split"): the conformal arithmetic holds
/// on any list of statistics, and the profiles carry exactly what the committed design lines give, nothing typed in.
/// </summary>
public sealed class SupportingThresholdsTests
{
    private static readonly string BuiltIn = Path.Combine(RepositoryRoot.Folder, "src", "Audit.Domain", "Profiles", "BuiltIn");

    /// <summary>
    /// On random lists of many sizes, scales and ties (40 seeds): at most n − k statistics reach the point, the point
    /// is the first multiple of 0.01 above s₍ₖ₎, and it is withheld exactly when k &gt; n.
    /// </summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public void TheConformalPoint_LetsAtMostNMinusKStatisticsReachIt_AndIsTheFirstHundredthAboveTheRankedOne(int seed)
    {
        var random = new Random(seed);
        int n = random.Next(0, 120);
        double scale = Math.Pow(10, random.Next(-2, 3));
        // Ties and values on the hundredths grid are the cases a rounding slip would get wrong.
        double[] statistics = [.. Enumerable.Range(0, n).Select(_ => random.Next(3) == 0 ? Math.Round(random.NextDouble() * scale, 2) : random.NextDouble() * scale)];
        double alpha = new[] { 0.01, 0.05, 0.1, 0.2 }[random.Next(4)];

        (int rank, double? ranked, double? point) = SupportingThresholds.ConformalPoint(statistics, alpha);

        Assert.Equal((int)Math.Ceiling((n + 1) * (1 - alpha) - 1e-9), rank);
        if (rank > n || n == 0)
        {
            Assert.Null(point);
            return;
        }

        Assert.Equal(statistics.Order().ElementAt(rank - 1), ranked);
        Assert.True(point > ranked, $"{point} must be above s(k) = {ranked}");
        Assert.True(point - ranked <= 0.01 + 1e-12, $"{point} is more than a hundredth above {ranked}");
        Assert.Equal(Math.Round(point!.Value * 100), point.Value * 100, 9);
        Assert.True(statistics.Count(s => s >= point) <= n - rank);
    }

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        foreach (int seed in Enumerable.Range(1, 40))
        {
            data.Add(seed);
        }

        return data;
    }

    [Fact]
    public void AValueOnTheGrid_GetsTheNextHundredth_NotItself()
    {
        // 2.3 is 2.29999… in binary; a threshold of 2.30 would flag the design model that set it.
        double[] statistics = [.. Enumerable.Repeat(0.5, 18), 2.3, 2.3];

        (int rank, double? ranked, double? point) = SupportingThresholds.ConformalPoint(statistics, 0.05);

        Assert.Equal(20, rank);
        Assert.Equal(2.3, ranked);
        Assert.Equal(2.31, point);
    }

    /// <summary>
    /// Each 2.1.0 built-in profile is its 2.0.0 with only the supporting detectors' thresholds (and the words saying
    /// where they come from) changed, and each such threshold is what `supporting-thresholds` computes from the
    /// committed design lines. A resurvey or a change to the rule that moves a threshold makes this fail.
    /// </summary>
    [Theory]
    [InlineData("trojan-scan")]
    [InlineData("eu-ai-act-art15")]
    [InlineData("nist-ai-rmf-measure")]
    public void ThePointOneProfiles_RunEachSupportingDetector_AtItsDesignSplitThreshold_AndChangeNothingElse(string id)
    {
        List<SurveyRecord> design = ZooSurvey.Read(Path.Combine(RepositoryRoot.Folder, ZooOptions.DesignUnderChosenKernelsCache), ZooSplits.Design);
        Dictionary<string, double> computed = SupportingThresholds.Compute(design).ToDictionary(t => t.Probe, t => t.Threshold);
        JsonNode before = JsonNode.Parse(File.ReadAllText(Path.Combine(BuiltIn, $"{id}-2.0.0.json")))!;
        JsonNode after = JsonNode.Parse(File.ReadAllText(Path.Combine(BuiltIn, $"{id}-2.1.0.json")))!;

        Assert.Equal("2.1.0", after["version"]!.GetValue<string>());
        int set = 0;
        foreach (JsonObject control in after["controls"]!.AsArray().Cast<JsonObject>())
        {
            foreach (JsonObject probe in control["probes"]!.AsArray().Cast<JsonObject>())
            {
                string name = probe["probe"]!.GetValue<string>();
                bool supporting = (string?)control["role"] == "supporting" || (string?)probe["role"] == "supporting";
                if (supporting && computed.TryGetValue(name, out double threshold))
                {
                    Assert.Equal(threshold, probe["threshold"]!.GetValue<double>());
                    set++;
                }
            }
        }

        Assert.True(set > 0, $"{id} 2.1.0 runs no supporting trojan detector");
        Assert.Equal(Comparable(before).ToJsonString(), Comparable(after).ToJsonString());
    }

    /// <summary>
    /// The one-sided Fisher tail equals the hypergeometric tail summed in exact integer arithmetic, on random tables of
    /// many sizes (40 seeds), including empty groups and all or nothing flagged.
    /// </summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public void TheFisherTail_IsTheExactHypergeometricTail(int seed)
    {
        var random = new Random(seed);
        int first = random.Next(0, 90), second = random.Next(0, 90);
        int firstFlagged = random.Next(0, first + 1), secondFlagged = random.Next(0, second + 1);

        double tail = FisherExactTest.UpperTail(firstFlagged, first, secondFlagged, second);

        int flagged = firstFlagged + secondFlagged;
        BigInteger favourable = BigInteger.Zero;
        for (int x = firstFlagged; x <= Math.Min(first, flagged); x++)
        {
            favourable += Choose(first, x) * Choose(second, flagged - x);
        }

        double exact = Math.Exp(BigInteger.Log(favourable) - BigInteger.Log(Choose(first + second, flagged)));
        Assert.Equal(exact, tail, 1e-9);
        Assert.InRange(tail, 0, 1);
    }

    [Fact]
    public void TheFisherTail_OfTheTeaTastingTable_IsSeventeenSeventieths()
    {
        // Fisher's own example (1935): three of four cups right among four of eight chosen; P = (16 + 1) / 70.
        Assert.Equal(17.0 / 70, FisherExactTest.UpperTail(3, 4, 1, 4), 12);
        // Nothing flagged in the first group: every table is at least as extreme.
        Assert.Equal(1.0, FisherExactTest.UpperTail(0, 10, 5, 10), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => FisherExactTest.UpperTail(5, 4, 0, 4));
    }

    private static BigInteger Choose(int n, int k)
    {
        if (k < 0 || k > n)
        {
            return BigInteger.Zero;
        }

        BigInteger result = BigInteger.One;
        for (int i = 1; i <= k; i++)
        {
            result = result * (n - k + i) / i;
        }

        return result;
    }

    /// <summary>
    /// Each 2.2.0 built-in profile is its 2.1.0 less exactly the supporting detectors the rule leaves out, as
    /// `supporting-thresholds` reads them from the committed design lines (docs/probes.md, "Which supporting controls the
    /// built-in profiles keep"): a kept detector runs at its 2.1.0 threshold, a left-out one is gone, a control left with
    /// no probe is gone with it, and nothing that decides the audit changes. A resurvey or a rule change that moves a
    /// detector across the line makes this fail.
    /// </summary>
    [Theory]
    [InlineData("trojan-scan")]
    [InlineData("eu-ai-act-art15")]
    [InlineData("nist-ai-rmf-measure")]
    public void ThePointTwoProfiles_KeepExactlyTheSupportingDetectorsThatSeparateOnTheDesignSplit(string id)
    {
        string designCache = Path.Combine(RepositoryRoot.Folder, ZooOptions.DesignUnderChosenKernelsCache);
        List<SurveyRecord> design = ZooSurvey.Read(designCache, ZooSplits.Design);
        Dictionary<string, bool> kept = SupportingThresholds.Evidence(design, new ZooTaskCheck(new ZooTrainer(designCache))).ToDictionary(e => e.Probe, e => e.Kept);
        JsonNode before = JsonNode.Parse(File.ReadAllText(Path.Combine(BuiltIn, $"{id}-2.1.0.json")))!;
        JsonNode after = JsonNode.Parse(File.ReadAllText(Path.Combine(BuiltIn, $"{id}-2.2.0.json")))!;

        Assert.Equal("2.2.0", after["version"]!.GetValue<string>());
        var afterControls = after["controls"]!.AsArray().Cast<JsonObject>().ToDictionary(c => c["id"]!.GetValue<string>());
        var expectedIds = new List<string>();
        foreach (JsonObject control in before["controls"]!.AsArray().Cast<JsonObject>())
        {
            bool Stays(JsonObject probe)
            {
                bool supporting = (string?)control["role"] == "supporting" || (string?)probe["role"] == "supporting";
                return !supporting || kept.GetValueOrDefault(probe["probe"]!.GetValue<string>(), true);
            }

            JsonObject[] staying = [.. control["probes"]!.AsArray().Cast<JsonObject>().Where(Stays)];
            string controlId = control["id"]!.GetValue<string>();
            if (staying.Length == 0)
            {
                Assert.False(afterControls.ContainsKey(controlId), $"{id} 2.2.0 keeps {controlId}, whose every detector the rule leaves out");
                continue;
            }

            expectedIds.Add(controlId);
            JsonObject kept22 = afterControls[controlId];
            Assert.Equal(new JsonArray([.. staying.Select(p => p.DeepClone())]).ToJsonString(), kept22["probes"]!.ToJsonString());
            Assert.Equal(control["clause"]!.GetValue<string>(), kept22["clause"]!.GetValue<string>());
            Assert.Equal((string?)control["role"], (string?)kept22["role"]);
            if (staying.Length == control["probes"]!.AsArray().Count)
            {
                // Untouched controls are untouched: title, evidence and rule as before.
                Assert.Equal(control.ToJsonString(), kept22.ToJsonString());
            }
        }

        Assert.Equal(expectedIds, afterControls.Keys);
        // The rule leaves out at least one detector the 2.1.0 profile ran, or 2.2.0 would be 2.1.0 again.
        Assert.True(expectedIds.Count < before["controls"]!.AsArray().Count || afterControls.Values.Sum(c => c["probes"]!.AsArray().Count) < before["controls"]!.AsArray().Sum(c => c!["probes"]!.AsArray().Count));
    }

    /// <summary>The profile without its version, its description and the supporting detectors' thresholds.</summary>
    private static JsonNode Comparable(JsonNode profile)
    {
        JsonNode copy = profile.DeepClone();
        copy.AsObject().Remove("version");
        copy.AsObject().Remove("description");
        foreach (JsonObject control in copy["controls"]!.AsArray().Cast<JsonObject>())
        {
            foreach (JsonObject probe in control["probes"]!.AsArray().Cast<JsonObject>())
            {
                bool supporting = (string?)control["role"] == "supporting" || (string?)probe["role"] == "supporting";
                if (supporting && SupportingThresholds.Detectors.Any(d => d.Probe == probe["probe"]!.GetValue<string>()))
                {
                    probe.Remove("threshold");
                }
            }
        }

        return copy;
    }
}
