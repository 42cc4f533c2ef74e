using System.Text.Json.Nodes;
using Audit.Evaluators.Probes.Trojans;
using Audit.ModelZoo;

namespace Audit.Evaluators.Tests.ModelZoo;

/// <summary>
/// An audit of a model from outside the project that the probe answered inconclusive for being at chance (since
/// 2026-12-06) records no features: the foreign zoo's reading counts it as the zoo counts such models, not as an error.
/// </summary>
public sealed class ForeignZooTests
{
    [Fact]
    public void AnAuditAtChance_IsCountedInconclusive_AndTheOthersAreScored()
    {
        TrojanLikelihoodModel model = TrojanLikelihoodModel.Embedded()!;
        string path = Path.Combine(Directory.CreateTempSubdirectory("foreign-").FullName, "results.jsonl");
        try
        {
            // One design standard deviation under the design mean of every feature (every coefficient is positive, so the
            // logit falls): a model scored well inside the clean side, which passes.
            Assert.All(model.Coefficients, c => Assert.True(c > 0));
            var features = new JsonObject();
            for (int i = 0; i < model.Features.Count; i++)
            {
                features[model.Features[i]] = model.Means[i] - model.Scales[i];
            }

            File.WriteAllLines(path,
            [
                Line("scored-clean", attack: null, "pass", features, new JsonObject { ["tested"] = true, ["aboveChance"] = true }),
                Line("collapsed-clean", attack: null, "inconclusive", null, new JsonObject { ["tested"] = true, ["aboveChance"] = false }),
                Line("collapsed-patch", attack: "patch", "inconclusive", null, new JsonObject { ["tested"] = true, ["aboveChance"] = false }),
            ]);

            IReadOnlyList<ForeignAudit> audits = ForeignZoo.Read(path);
            LikelihoodTestRates rates = ForeignZoo.Measure(model, audits);

            Assert.Equal([false, true, true], audits.Select(a => a.AtChance));
            Assert.Equal((2, 1, 1, 1), (rates.Clean, rates.Backdoored, rates.InconclusiveClean, rates.InconclusiveBackdoored));
            Assert.Equal((0, 0, 1), (rates.FalseFails, rates.Detected, rates.Misses));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    private static string Line(string name, string? attack, string verdict, JsonObject? features, JsonObject taskCheck) =>
        new JsonObject
        {
            ["name"] = name,
            ["architecture"] = "lenet",
            ["attack"] = attack,
            ["implanted"] = attack is not null,
            ["targetClass"] = attack is null ? null : 3,
            ["audit"] = new JsonObject
            {
                ["status"] = "succeeded",
                ["trojanLikelihood"] = new JsonObject
                {
                    ["verdict"] = verdict,
                    ["suspectedTargetClass"] = features is null ? null : 1,
                    ["features"] = features,
                    ["taskCheck"] = taskCheck,
                },
                ["detectors"] = new JsonObject(),
            },
        }.ToJsonString();
}
