using Audit.ModelZoo;

namespace Audit.Evaluators.Tests.ModelZoo;

/// <summary>The zoo is reproducible: a recipe's seed fixes its split and its trained weights.</summary>
[Collection(NativeTorch.Collection)]
public sealed class ZooRecipeTests
{
    [Fact]
    public void EveryRecipe_LiesInTheSplitItsSeedDecides_AndSplitsDoNotShareSeeds()
    {
        IReadOnlyList<ZooRecipe> recipes = ZooCatalog.Recipes(ZooCatalog.DefaultSizes);

        Assert.All(recipes, r => Assert.Equal(ZooSplits.Of(r.Seed), r.Split));
        Assert.Equal(recipes.Count, recipes.Select(r => r.Seed).Distinct().Count());
        foreach (SplitSize size in ZooCatalog.DefaultSizes)
        {
            Assert.Equal(size.Clean, recipes.Count(r => r.Split == size.Split && !r.Backdoored));
            Assert.Equal(size.Backdoored, recipes.Count(r => r.Split == size.Split && r.Backdoored));
        }
    }

    [Fact]
    public void TheCatalog_IsAFunctionOfTheSizes_AndCoversEveryFamily()
    {
        IReadOnlyList<ZooRecipe> first = ZooCatalog.Recipes(ZooCatalog.DefaultSizes);
        IReadOnlyList<ZooRecipe> second = ZooCatalog.Recipes(ZooCatalog.DefaultSizes);

        Assert.Equal(first.Select(r => r.ComputeHash()), second.Select(r => r.ComputeHash()));
        Assert.Equal(4, first.Select(r => r.Architecture).Distinct().Count());
        Assert.Equal(3, first.Select(r => r.Scaling).Distinct().Count());
        Assert.Equal(
            ["blend", "clean", "low-rate", "patch", "source-specific", "warp"],
            first.Select(r => r.AttackName).Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ChangingAnyField_ChangesTheCacheKey()
    {
        var recipe = new ZooRecipe(7, Architecture.Cnn, InputScaling.Unit, AttackKind.Patch, TargetClass: 3);

        Assert.NotEqual(recipe.ComputeHash(), (recipe with { Seed = 8 }).ComputeHash());
        Assert.NotEqual(recipe.ComputeHash(), (recipe with { PatchIntensity = 0.5f }).ComputeHash());
        Assert.Equal(recipe.ComputeHash(), (recipe with { }).ComputeHash());
    }

    [Theory]
    [InlineData("Mlp", "Patch")]
    [InlineData("ResNet", "Warp")]
    public void TheSameSeed_TrainsTheSameWeights(string architectureName, string attackName)
    {
        var architecture = Enum.Parse<Architecture>(architectureName);
        var attack = Enum.Parse<AttackKind>(attackName);
        if (!FashionMnistImages.Available())
        {
            return;
        }

        // Small enough to train twice in seconds; the weights hash covers the exported ONNX bytes.
        var recipe = new ZooRecipe(5, architecture, InputScaling.Standardised, attack, TargetClass: 2, TrainSamples: 1000, Epochs: 1);
        string folder = Directory.CreateTempSubdirectory("zoo-determinism-").FullName;
        try
        {
            var trainer = new ZooTrainer(folder);
            ZooModel first = trainer.Train(recipe, recipe.ComputeHash(), Path.Combine(folder, "first"));
            ZooModel second = trainer.Train(recipe, recipe.ComputeHash(), Path.Combine(folder, "second"));
            ZooModel otherSeed = trainer.Train(recipe with { Seed = 6 }, "other", Path.Combine(folder, "third"));

            Assert.Equal(first.WeightsSha256, second.WeightsSha256);
            Assert.Equal(first.CleanAccuracy, second.CleanAccuracy);
            Assert.Equal(first.AttackSuccessRate, second.AttackSuccessRate);
            Assert.NotEqual(first.WeightsSha256, otherSeed.WeightsSha256);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

/// <summary>The fitting math of the zoo's fit command: ridge logistic regression and Platt scaling.</summary>
public sealed class ZooFitTests
{
    [Fact]
    public void Logistic_SolvesThePenalisedScoreEquations()
    {
        // Overlapping classes on one feature: the optimum has zero gradient of the penalised log-likelihood.
        double[][] x = [[-2], [-1], [-0.5], [0], [0.5], [0.2], [1], [2], [-0.2], [1.5]];
        int[] y = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1];
        const double ridge = 1.0;

        (double[] w, double b) = ZooFit.Logistic(x, y, ridge);

        double gw = ridge * w[0], gb = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double residual = 1 / (1 + Math.Exp(-(w[0] * x[i][0] + b))) - y[i];
            gw += residual * x[i][0];
            gb += residual;
        }

        Assert.True(w[0] > 0);
        Assert.Equal(0, gw, 8);
        Assert.Equal(0, gb, 8);
    }

    [Fact]
    public void Logistic_OnSeparableData_StaysFiniteThroughTheRidge()
    {
        (double[] w, double b) = ZooFit.Logistic([[-1], [-2], [1], [2]], [0, 0, 1, 1], ridge: 1.0);

        Assert.True(double.IsFinite(w[0]) && w[0] is > 0 and < 10);
        Assert.Equal(0, b, 8);
    }

    [Fact]
    public void Platt_MatchesThePlattTargets()
    {
        double[] logits = [-3, -2, -1, -0.5, 0.5, 1, 2, 3, 0.2, -0.2];
        int[] labels = [0, 0, 0, 1, 0, 1, 1, 1, 1, 0];

        (double a, double b) = ZooFit.Platt(logits, labels);

        // At the optimum the gradient with Platt's smoothed targets vanishes.
        double high = 6.0 / 7, low = 1.0 / 7, ga = 0, gb = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            double residual = 1 / (1 + Math.Exp(-(a * logits[i] + b))) - (labels[i] == 1 ? high : low);
            ga += residual * logits[i];
            gb += residual;
        }

        Assert.True(a > 0);
        Assert.Equal(0, ga, 8);
        Assert.Equal(0, gb, 8);
    }

    [Fact]
    public void Auroc_CountsTiesAsHalf() =>
        Assert.Equal((1 + 0.5 + 1 + 1) / 4.0, SurveyReport.Auroc([0.9, 0.5], [0.5, 0.1]), 12);
}
