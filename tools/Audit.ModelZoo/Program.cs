using System.Globalization;
using Audit.ModelZoo;

// The model zoo: `generate` trains (or finds cached) models, `survey` runs the service's trojan probes on a split and
// writes per-model statistics and a Markdown table, `fit` fits the trojan-likelihood probe's calibration. See
// docs/probes.md ("Model zoo") for the commands that produced the published figures.
var options = ZooOptions.Parse(args);
if (options is null)
{
    Console.Error.WriteLine(ZooOptions.Usage);
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

IReadOnlyList<ZooRecipe> recipes = ZooCatalog.Recipes(options.Sizes)
    .Where(r => options.Split is null || r.Split == options.Split)
    .Take(options.Limit)
    .ToList();
var trainer = new ZooTrainer(options.Cache);
switch (options.Command)
{
    case "list":
        foreach (ZooRecipe recipe in recipes)
        {
            Console.WriteLine($"{recipe.Split,-12} {recipe.Name,-40} {recipe.TriggerDescription}, target {recipe.TargetClass}, {recipe.ComputeHash()}");
        }

        return 0;
    case "generate":
        foreach (ZooRecipe recipe in recipes)
        {
            cancel.Token.ThrowIfCancellationRequested();
            ZooModel model = trainer.GetOrTrain(recipe);
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{recipe.Split,-12} {recipe.Name,-40} acc {model.CleanAccuracy:P1} asr {model.AttackSuccessRate?.ToString("P1", CultureInfo.InvariantCulture) ?? "-",7} {model.TrainSeconds,6:F1}s {model.WeightsSha256[..12]}"));
        }

        return 0;
    case "survey":
        await new ZooSurvey(options.Cache, trainer, options.Seed).RunAsync(recipes, options.Split ?? "all", cancel.Token);
        return 0;
    case "fit":
        return new ZooFit(options.Cache, options.Output).Run();
    case "report":
        foreach (string split in options.Split is null ? ZooSplits.All : [options.Split])
        {
            string markdown = SurveyReport.Markdown(
                ZooSurvey.Read(options.Cache, split).Where(r => r.AuditSeed == options.Seed).ToList(),
                options.Output is null ? Audit.Evaluators.Probes.Trojans.TrojanLikelihoodModel.Embedded() : ZooFit.Load(options.Output),
                split);
            Console.WriteLine(markdown);
        }

        return 0;
    default:
        Console.Error.WriteLine(ZooOptions.Usage);
        return 2;
}

/// <summary>Command-line options of the zoo tool.</summary>
internal sealed record ZooOptions(string Command, string Cache, string? Split, int Limit, int Seed, string? Output, IReadOnlyList<SplitSize> Sizes)
{
    public const string Usage = """
        usage: Audit.ModelZoo <list|generate|survey|fit|report> [--cache DIR] [--split design|calibration|test] [--limit N]
                              [--seed N] [--sizes design=C/B,calibration=C/B,test=C/B] [--output FILE]
          list      the recipes (split, name, trigger, hash)
          generate  train the recipes not yet in the cache (DIR/models)
          survey    run the trojan probes on every model of the split; DIR/survey/<split>.jsonl and <split>.md
          fit       fit trojan-likelihood on design, calibrate on calibration, measure on test; writes --output
                    (default src/Audit.Evaluators/Probes/Trojans/TrojanLikelihoodModel.json)
          report    the Markdown tables of the surveyed splits, with the embedded model (or the --output file)
        """;

    public static ZooOptions? Parse(string[] args)
    {
        if (args.Length == 0)
        {
            return null;
        }

        string cache = Environment.GetEnvironmentVariable("AUDIT_ZOO_CACHE") is { Length: > 0 } configured ? configured : ".model-zoo";
        string? split = null, output = null;
        int limit = int.MaxValue, seed = 20240613;
        IReadOnlyList<SplitSize> sizes = ZooCatalog.DefaultSizes;
        for (int i = 1; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : "";
            switch (args[i])
            {
                case "--cache": cache = value; i++; break;
                case "--split": split = value; i++; break;
                case "--limit": limit = int.Parse(value, CultureInfo.InvariantCulture); i++; break;
                case "--seed": seed = int.Parse(value, CultureInfo.InvariantCulture); i++; break;
                case "--output": output = value; i++; break;
                case "--sizes": sizes = ParseSizes(value); i++; break;
                default: return null;
            }
        }

        if (split is not null && !ZooSplits.All.Contains(split))
        {
            return null;
        }

        return new ZooOptions(args[0], cache, split, limit, seed, output, sizes);
    }

    private static List<SplitSize> ParseSizes(string value) =>
        value.Split(',').Select(part =>
        {
            string[] nameAndCounts = part.Split('=');
            string[] counts = nameAndCounts[1].Split('/');
            return new SplitSize(nameAndCounts[0], int.Parse(counts[0], CultureInfo.InvariantCulture), int.Parse(counts[1], CultureInfo.InvariantCulture));
        }).ToList();
}
