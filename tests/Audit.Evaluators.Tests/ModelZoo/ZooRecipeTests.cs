using System.Text.Json.Nodes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Runtime;
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

    /// <summary>
    /// Growing the splits (test 12 + 12 → 24 + 18 → 48 + 36 → 72 + 54 → 108 + 81 → 144 + 108 → 180 + 135 → 216 + 162 → 234 + 180 → 270 + 216, design 12 + 12 → 30 + 30 → 60 + 60, calibration
    /// 20 + 8 → 40 + 16 → 140 + 16)
    /// keeps every seed in its split, and a split whose clean and backdoored counts stayed equal keeps every recipe.
    /// Where a smaller catalog had run out of backdoored recipes, its last seeds were all clean; the larger one
    /// alternates on, so those seeds carry other recipes now, and the survey keeps the retired models beside the new
    /// ones (docs/probes.md, "Model zoo"): a seed's role is the catalog rule's, never a reading's.
    /// </summary>
    [Theory]
    [InlineData(12, 12, 20, 8, 24, 18, 16)] // the first catalog: 11 calibration and 5 test clean recipes retired
    [InlineData(30, 30, 40, 16, 48, 36, 11)] // the catalog before 2026-12-01 09:20: 11 more test clean recipes
    [InlineData(60, 60, 40, 16, 72, 54, 17)] // the catalog before 2026-12-04: 17 more test clean recipes
    [InlineData(60, 60, 40, 16, 108, 81, 26)] // the catalog before the sealed models joined (2026-12-04 evening): 26 more
    [InlineData(60, 60, 40, 16, 144, 108, 35)] // the catalog before the second sealed models joined (2026-12-05): 35 more
    [InlineData(60, 60, 40, 16, 180, 135, 44)] // the catalog before the third sealed models joined (2026-12-05, afternoon): 44 more
    [InlineData(60, 60, 40, 16, 216, 162, 53)] // the catalog before the fourth sealed models joined (2026-12-05, night): 53 more
    [InlineData(60, 60, 40, 16, 234, 180, 53)] // the catalog before the fifth sealed models joined (2026-12-06): 53 more
    [InlineData(60, 60, 40, 16, 270, 216, 53)] // the catalog before the calibration split grew (2026-12-06, evening)
    [InlineData(60, 60, 140, 16, 270, 216, 53)] // the catalog before the sixth sealed models joined (2026-12-06, evening)
    [InlineData(60, 60, 140, 16, 306, 252, 53)] // the catalog before the seventh sealed models joined (2026-12-06, night)
    [InlineData(60, 60, 140, 16, 342, 288, 53)] // the catalog before the eighth sealed models joined (2026-12-07)
    [InlineData(60, 60, 140, 16, 378, 324, 53)] // the catalog before the ninth sealed models joined (2026-12-07, evening)
    [InlineData(60, 60, 140, 16, 414, 360, 53)] // the catalog before the tenth sealed models joined (2026-12-07, night)
    [InlineData(60, 60, 140, 16, 450, 396, 53)] // the catalog before the eleventh sealed models joined (2026-12-08)
    public void GrowingASplit_KeepsEverySeedInItsSplit_AndRetiresOnlyCleanRecipesPastTheBackdooredEnd(
        int designClean, int designBackdoored, int calibrationClean, int calibrationBackdoored, int testClean, int testBackdoored, int retiredCount)
    {
        SplitSize[] smaller =
        [
            new(ZooSplits.Design, designClean, designBackdoored),
            new(ZooSplits.Calibration, calibrationClean, calibrationBackdoored),
            new(ZooSplits.Test, testClean, testBackdoored),
        ];
        IReadOnlyList<ZooRecipe> before = ZooCatalog.Recipes(smaller);
        IReadOnlyList<ZooRecipe> after = ZooCatalog.Recipes(ZooCatalog.DefaultSizes);
        var afterBySeed = after.ToDictionary(r => r.Seed);
        var afterHashes = after.Select(r => r.ComputeHash()).ToHashSet();

        Assert.All(before, r => Assert.Equal(r.Split, afterBySeed[r.Seed].Split));
        Assert.All(before.Where(r => r.Split == ZooSplits.Design), r => Assert.Contains(r.ComputeHash(), afterHashes));
        var retired = before.Where(r => !afterHashes.Contains(r.ComputeHash())).ToList();
        Assert.All(retired, r => Assert.False(r.Backdoored));
        foreach (SplitSize size in smaller.Where(s => s.Clean > s.Backdoored))
        {
            // Only the clean recipes after the split's last backdoored one can be retired.
            int lastBackdooredSeed = before.Where(r => r.Split == size.Split && r.Backdoored).Max(r => r.Seed);
            Assert.All(retired.Where(r => r.Split == size.Split), r => Assert.True(r.Seed > lastBackdooredSeed, r.Name));
        }

        Assert.Equal(retiredCount, retired.Count);
    }

    /// <summary>
    /// The recipes a plain survey adds after today's catalog are exactly the clean ones the earlier sizes retired
    /// (the theory above counts them per size): none of today's, none twice, none backdoored, none of the design split.
    /// </summary>
    [Fact]
    public void TheRetiredRecipes_AreTheEarlierSizesCleanRecipesTodaysCatalogLacks_ElevenCalibrationAndFiveHundredSixtyTwoTest()
    {
        var today = ZooCatalog.Recipes(ZooCatalog.DefaultSizes).Select(r => r.ComputeHash()).ToHashSet();
        IReadOnlyList<ZooRecipe> retired = ZooCatalog.RetiredRecipes();

        Assert.Equal(11, retired.Count(r => r.Split == ZooSplits.Calibration));
        Assert.Equal(562, retired.Count(r => r.Split == ZooSplits.Test));
        Assert.Equal(573, retired.Count);
        Assert.All(retired, r => Assert.False(r.Backdoored, r.Name));
        Assert.All(retired, r => Assert.DoesNotContain(r.ComputeHash(), today));
        Assert.Equal(retired.Count, retired.Select(r => r.ComputeHash()).Distinct().Count());
        Assert.Equal(retired.Count, retired.Select(r => r.Name).Distinct().Count());
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
    public void TheCatalogsAttackTemplates_MeetOnlyTheArchitecturesOfTheirParity_AndTheCrossedSliceHoldsEveryOtherPair()
    {
        var catalog = ZooCatalog.Recipes(ZooCatalog.DefaultSizes).Concat(ZooCatalog.Recipes(ZooCatalog.ManyClassSizes, manyClasses: true)).ToList();
        var seen = catalog.Where(r => r.Backdoored).Select(r => (r.Architecture, r.AttackName)).ToHashSet();
        string[] templates = ["blend", "low-rate", "patch", "source-specific", "warp"];
        var every = ZooCatalog.Architectures.SelectMany(a => templates.Select(t => (a, t))).ToHashSet();

        // The unseen pairs are exactly the ones the catalogs never build (so the crossed slice reads something new).
        Assert.Empty(seen.Intersect(ZooCatalog.UnseenPairs));
        Assert.Equal(every.Count, seen.Count + ZooCatalog.UnseenPairs.Count);

        IReadOnlyList<ZooRecipe> crossed = ZooCatalog.CrossedRecipes();
        var unseenScalings = ZooCatalog.UnseenScalings();
        Assert.Equal(ZooCatalog.UnseenPairs.Count * ZooCatalog.CrossedPerPair + unseenScalings.Count, crossed.Count);
        Assert.All(crossed, r => Assert.Equal(ZooSplits.Test, r.Split));
        Assert.All(crossed, r => Assert.True(r.Backdoored));
        Assert.Equal(crossed.Count, crossed.Select(r => r.Seed).Distinct().Count());
        Assert.Empty(crossed.Select(r => r.Seed).Intersect(catalog.Select(r => r.Seed)));
        foreach ((Architecture architecture, string template) in ZooCatalog.UnseenPairs)
        {
            var pair = crossed.Where(r => r.Architecture == architecture && r.AttackName == template).ToList();
            Assert.Equal(ZooCatalog.CrossedPerPair, pair.Count);
            Assert.Equal(4, pair.Select(r => (r.Images, r.Layout)).Distinct().Count());
            Assert.Equal(3, pair.Select(r => r.Scaling).Distinct().Count());
        }

        // Each built pair comes in one scaling only; with the crossed slice every architecture, template and scaling is met.
        var builtCells = ZooCatalog.Recipes(ZooCatalog.DefaultSizes).Where(r => r.Backdoored).Select(r => (r.Architecture, r.AttackName, r.Scaling)).ToHashSet();
        Assert.Equal(seen.Where(p => ZooCatalog.Recipes(ZooCatalog.DefaultSizes).Any(r => (r.Architecture, r.AttackName) == p)).Count(), builtCells.Count);
        Assert.Equal(2 * builtCells.Count, unseenScalings.Count);
        Assert.Empty(builtCells.Intersect(unseenScalings));
        var allCells = builtCells.Concat(crossed.Select(r => (r.Architecture, r.AttackName, r.Scaling))).ToHashSet();
        Assert.Equal(every.Count * 3, allCells.Count);

        // The design and calibration splits' slices hold the same cells in the same order, on their own seeds.
        foreach (string split in new[] { ZooSplits.Design, ZooSplits.Calibration })
        {
            IReadOnlyList<ZooRecipe> other = ZooCatalog.CrossedRecipes(split);
            Assert.All(other, r => Assert.Equal(split, r.Split));
            Assert.Equal(
                crossed.Select(r => (r.Architecture, r.AttackName, r.Scaling, r.Images, r.Layout)),
                other.Select(r => (r.Architecture, r.AttackName, r.Scaling, r.Images, r.Layout)));
            Assert.Empty(other.Select(r => r.Seed).Intersect(catalog.Select(r => r.Seed).Concat(crossed.Select(r => r.Seed))));
        }
    }

    [Fact]
    public void EverySplit_CoversBothImageVariantsAndBothLayouts_AcrossArchitectures()
    {
        IReadOnlyList<ZooRecipe> recipes = ZooCatalog.Recipes(ZooCatalog.DefaultSizes);

        foreach (string split in ZooSplits.All)
        {
            var inSplit = recipes.Where(r => r.Split == split).ToList();
            Assert.Equal(2, inSplit.Where(r => r.Backdoored).Select(r => r.Images).Distinct().Count());
            Assert.Equal(2, inSplit.Where(r => !r.Backdoored).Select(r => r.Images).Distinct().Count());
            Assert.Equal(2, inSplit.Where(r => r.Backdoored).Select(r => r.Layout).Distinct().Count());
            Assert.Equal(2, inSplit.Where(r => !r.Backdoored).Select(r => r.Layout).Distinct().Count());
        }

        // The variant and layout are not tied to the architecture: each architecture meets three of the four pairs in twelve recipes.
        foreach (Architecture architecture in ZooCatalog.Architectures)
        {
            Assert.True(recipes.Where(r => r.Architecture == architecture && r.Split == ZooSplits.Design && !r.Backdoored).Select(r => (r.Images, r.Layout)).Distinct().Count() >= 3);
            Assert.Equal(4, recipes.Where(r => r.Architecture == architecture).Select(r => (r.Images, r.Layout)).Distinct().Count());
        }

        // Colour patches have colours, grey ones none; patches fit the image.
        Assert.All(recipes.Where(r => r.Attack == AttackKind.Patch), r =>
        {
            Assert.InRange(r.PatchRow + r.PatchSize, 1, r.Size);
            Assert.InRange(r.PatchColumn + r.PatchSize, 1, r.Size);
            Assert.Equal(r.Images == ImageFormat.Gray28, (r.PatchRed, r.PatchGreen, r.PatchBlue) == (1f, 1f, 1f));
        });
    }

    [Fact]
    public void TheManyClassCatalog_HoldsTheSameSeedsAndFamilies_On43ClassImages()
    {
        IReadOnlyList<ZooRecipe> manyClass = ZooCatalog.Recipes(ZooCatalog.ManyClassSizes, manyClasses: true);
        IReadOnlyList<ZooRecipe> tenClass = ZooCatalog.Recipes(ZooCatalog.ManyClassSizes);

        Assert.Equal(tenClass.Select(r => (r.Seed, r.Split, r.Architecture, r.Scaling, r.Layout, r.AttackName)), manyClass.Select(r => (r.Seed, r.Split, r.Architecture, r.Scaling, r.Layout, r.AttackName)));
        Assert.All(manyClass, r =>
        {
            Assert.Equal(ImageFormat.Tinted43, r.Images);
            Assert.Equal(43, r.Classes);
            Assert.Equal(ZooCatalog.ManyClassTrainSamples, r.TrainSamples);
            Assert.Contains("-tint43-", r.Name, StringComparison.Ordinal);
        });
        Assert.DoesNotContain(ZooCatalog.Recipes(ZooCatalog.DefaultSizes), r => r.Images == ImageFormat.Tinted43);

        // Targets and sources range over all 43 classes (not only the first ten), a source is never its target, and
        // patches have colours.
        var backdoored = manyClass.Where(r => r.Backdoored).ToList();
        Assert.All(backdoored, r => Assert.InRange(r.TargetClass, 0, 42));
        Assert.Contains(backdoored, r => r.TargetClass >= 10);
        Assert.All(backdoored.Where(r => r.SourceClass >= 0), r =>
        {
            Assert.InRange(r.SourceClass, 0, 42);
            Assert.NotEqual(r.TargetClass, r.SourceClass);
        });
        Assert.All(backdoored.Where(r => r.Attack == AttackKind.Patch), r => Assert.NotEqual((1f, 1f, 1f), (r.PatchRed, r.PatchGreen, r.PatchBlue)));
        foreach (SplitSize size in ZooCatalog.ManyClassSizes)
        {
            Assert.Equal(size.Clean, manyClass.Count(r => r.Split == size.Split && !r.Backdoored));
            Assert.Equal(size.Backdoored, manyClass.Count(r => r.Split == size.Split && r.Backdoored));
        }
    }

    [Fact]
    public void TheManyClassTask_Has43Classes_EachOneGarmentInOneColour()
    {
        var pairs = new Dictionary<int, (int Garment, int Colour)>();
        for (int garment = 0; garment < 10; garment++)
        {
            for (int colour = 0; colour < TintedClasses.Colours; colour++)
            {
                int label = TintedClasses.ClassOf(garment, colour);
                if (label >= 0)
                {
                    Assert.True(pairs.TryAdd(label, (garment, colour)), $"class {label} given twice");
                }
            }
        }

        Assert.Equal(Enumerable.Range(0, 43), pairs.Keys.Order());
        Assert.All(Enumerable.Range(0, TintedClasses.Colours), c => Assert.InRange(pairs.Values.Count(p => p.Colour == c), 8, 9));
        Assert.All(Enumerable.Range(0, 10), g => Assert.InRange(pairs.Values.Count(p => p.Garment == g), 4, 5));
        Assert.Equal(-1, TintedClasses.ClassOf(10, 0));
        Assert.Equal(-1, TintedClasses.ClassOf(0, TintedClasses.Colours));

        // Drawn images: 3×32×32, each labelled with a class of its own garment, every colour its garment keeps drawn
        // (200 draws of each garment), the same draw for the same generator seed.
        using var scope = TorchSharp.torch.NewDisposeScope();
        long[] garments = [.. Enumerable.Range(0, 2000).Select(i => (long)(i % 10))];
        using var gray = TorchSharp.torch.ones(2000, 1, 28, 28);
        using var generator = new TorchSharp.torch.Generator(11);
        (TorchSharp.torch.Tensor images, long[] labels) = TintedClasses.Draw(gray, garments, generator);
        using var again = new TorchSharp.torch.Generator(11);
        (TorchSharp.torch.Tensor imagesAgain, long[] labelsAgain) = TintedClasses.Draw(gray, garments, again);

        Assert.Equal([2000L, 3, 32, 32], images.shape);
        Assert.All(Enumerable.Range(0, 2000), i => Assert.Equal(garments[i], pairs[(int)labels[i]].Garment));
        Assert.Equal(43, labels.Distinct().Count());
        Assert.Equal(labels, labelsAgain);
        Assert.True(images.eq(imagesAgain).all().item<bool>());
        Assert.InRange(images.min().item<float>(), 0f, 0.25f);
        Assert.InRange(images.max().item<float>(), 0.8f, 1f);
    }

    [Fact]
    public void AColourPatch_StampsItsColourOnTheColourImage()
    {
        var recipe = new ZooRecipe(3, Architecture.Cnn, InputScaling.Unit, AttackKind.Patch, PatchSize: 3, PatchRow: 1, PatchColumn: 2,
            Pattern: PatchPattern.Solid, PatchRed: 1, PatchGreen: 0, PatchBlue: 1, Images: ImageFormat.Colour32);
        using var images = HeldScalars.Full([2, 3, 32, 32], 0.25f);

        using var stamped = ZooTriggers.Apply(recipe, images);

        Assert.Equal([2L, 3, 32, 32], stamped.shape);
        Assert.Equal(1f, stamped[1, 0, 2, 3].item<float>());
        Assert.Equal(0f, stamped[1, 1, 2, 3].item<float>());
        Assert.Equal(1f, stamped[1, 2, 2, 3].item<float>());
        Assert.Equal(0.25f, stamped[1, 1, 10, 10].item<float>());
        Assert.Equal(0.25f, images[1, 0, 2, 3].item<float>());
    }

    [Fact]
    public void Colourise_PadsTo32AndTintsBetweenBackgroundAndForeground()
    {
        using var gray = TorchSharp.torch.ones(1, 1, 28, 28);
        using var foreground = TorchSharp.torch.tensor(new[] { 0.9f, 0.8f, 0.7f }, [1, 3]);
        using var background = TorchSharp.torch.tensor(new[] { 0.1f, 0.2f, 0.3f }, [1, 3]);

        using var colour = ZooTrainer.Colourise(gray, foreground, background);

        Assert.Equal([1L, 3, 32, 32], colour.shape);
        Assert.Equal(0.2f, colour[0, 1, 0, 0].item<float>(), 6); // padding: background
        Assert.Equal(0.7f, colour[0, 2, 16, 16].item<float>(), 6); // garment: foreground
    }

    /// <summary>
    /// The unfamiliar-recipes slice: 64 clean and 32 backdoored test models, four and two in each (architecture,
    /// training recipe, image variant) cell, none trained the catalog's way, no seed shared with any catalog or the
    /// crossed slice, raw [0, 255] inputs never under SGD, and patches anywhere inside the image rather than only in the
    /// catalog's corners and centre. The first 48 (read first, for a rule) stay first and grey, channels-first; the next
    /// 48 are colour, in both layouts; the last 36 are grey again, trained on every training image (named -long), where
    /// the others train on 12,000.
    /// </summary>
    [Fact]
    public void TheUnfamiliarSlice_FillsEveryCell_WithRecipesNoCatalogUses_AndPatchesAnywhere()
    {
        IReadOnlyList<ZooRecipe> slice = ZooCatalog.UnfamiliarRecipes();

        Assert.Equal(132, slice.Count);
        Assert.All(slice, r => Assert.Equal(ZooSplits.Test, r.Split));
        Assert.All(slice, r => Assert.NotEqual(TrainingRecipe.AdamCosine, r.Training));
        Assert.All(slice.Take(48), r => Assert.Equal((ImageFormat.Gray28, InputLayout.Nchw), (r.Images, r.Layout)));
        Assert.All(slice.Skip(48).Take(48), r => Assert.Equal(ImageFormat.Colour32, r.Images));
        Assert.Equal(24, slice.Skip(48).Take(48).Count(r => r.Layout == InputLayout.Nhwc));
        Assert.All(slice.Take(96), r => Assert.Equal(ZooCatalog.UnfamiliarTrainSamples, r.TrainSamples));
        Assert.All(slice.Skip(96), r => Assert.Equal((ImageFormat.Gray28, InputLayout.Nchw, 60_000), (r.Images, r.Layout, r.TrainSamples)));
        Assert.All(slice.Skip(96), r => Assert.Contains("-long-", r.Name, StringComparison.Ordinal));
        Assert.DoesNotContain(slice.Take(96), r => r.Name.Contains("-long", StringComparison.Ordinal));
        Assert.DoesNotContain(slice, r => r.Training == TrainingRecipe.SgdNesterovShift && r.Scaling == InputScaling.Byte);
        foreach (var cell in slice.GroupBy(r => (r.Architecture, r.Training, r.Images, r.TrainSamples)))
        {
            Assert.Equal(ZooCatalog.UnfamiliarCleanPerCell, cell.Count(r => !r.Backdoored));
            Assert.Equal(ZooCatalog.UnfamiliarBackdooredPerCell, cell.Count(r => r.Backdoored));
        }

        Assert.Equal(
            (ZooCatalog.UnfamiliarArchitectures.Count + ZooCatalog.UnfamiliarColourArchitectures.Count + ZooCatalog.UnfamiliarLongArchitectures.Count) * 2,
            slice.Select(r => (r.Architecture, r.Training, r.Images, r.TrainSamples)).Distinct().Count());
        Assert.Equal(slice.Count, slice.Select(r => r.Seed).Distinct().Count());
        var otherSeeds = ZooCatalog.Recipes(ZooCatalog.DefaultSizes).Concat(ZooCatalog.RetiredRecipes())
            .Concat(ZooSplits.All.SelectMany(ZooCatalog.CrossedRecipes)).Select(r => r.Seed).ToHashSet();
        Assert.DoesNotContain(slice, r => otherSeeds.Contains(r.Seed));

        var patches = slice.Where(r => r.Attack == AttackKind.Patch).ToList();
        Assert.All(patches, r =>
        {
            Assert.InRange(r.PatchRow, 1, r.Size - r.PatchSize - 1);
            Assert.InRange(r.PatchColumn, 1, r.Size - r.PatchSize - 1);
        });
        // The catalog puts a patch's corner at 1 or at the far edge less the patch, or both at the centre less 2.
        static bool CatalogPlace(ZooRecipe r, int start) => start == 1 || start == r.Size - r.PatchSize - 1 || start == r.Size / 2 - 2;
        int elsewhere = patches.Count(r => !CatalogPlace(r, r.PatchRow) || !CatalogPlace(r, r.PatchColumn));
        Assert.True(elsewhere >= patches.Count * 3 / 4, $"{elsewhere} of {patches.Count} patches lie where no catalog patch lies");
        Assert.Equal(slice, ZooCatalog.UnfamiliarRecipes());
    }

    /// <summary>
    /// The training recipe keys the cache only when it is not the catalog's own: every catalog model keeps the key its
    /// recipe had before other training recipes existed.
    /// </summary>
    [Fact]
    public void TheCatalogsTrainingRecipe_IsLeftOutOfTheKey_AndAnyOtherChangesIt()
    {
        var recipe = new ZooRecipe(7, Architecture.Cnn, InputScaling.Unit, AttackKind.Patch, TargetClass: 3);

        Assert.DoesNotContain("Training", System.Text.Json.JsonSerializer.Serialize(recipe), StringComparison.Ordinal);
        Assert.Equal("cnn-unit-patch-s7", recipe.Name);
        Assert.NotEqual(recipe.ComputeHash(), (recipe with { Training = TrainingRecipe.SgdNesterovShift }).ComputeHash());
        Assert.NotEqual(
            (recipe with { Training = TrainingRecipe.SgdNesterovShift }).ComputeHash(),
            (recipe with { Training = TrainingRecipe.AdamWSmoothFlip }).ComputeHash());
        Assert.Equal("cnn-unit-patch-adamw-s7", (recipe with { Training = TrainingRecipe.AdamWSmoothFlip }).Name);
    }

    [Fact]
    public void ChangingAnyField_ChangesTheCacheKey()
    {
        var recipe = new ZooRecipe(7, Architecture.Cnn, InputScaling.Unit, AttackKind.Patch, TargetClass: 3);

        Assert.NotEqual(recipe.ComputeHash(), (recipe with { Seed = 8 }).ComputeHash());
        Assert.NotEqual(recipe.ComputeHash(), (recipe with { PatchIntensity = 0.5f }).ComputeHash());
        Assert.NotEqual(recipe.ComputeHash(), (recipe with { Images = ImageFormat.Colour32 }).ComputeHash());
        Assert.NotEqual(recipe.ComputeHash(), (recipe with { Layout = InputLayout.Nhwc }).ComputeHash());
        Assert.NotEqual(recipe.ComputeHash(), (recipe with { PatchGreen = 0 }).ComputeHash());
        Assert.Equal(recipe.ComputeHash(), (recipe with { }).ComputeHash());
    }

    /// <summary>A network whose training diverged is refused by name, not cached; a finite one passes.</summary>
    [Theory]
    [InlineData(float.NaN, "weight")]
    [InlineData(float.PositiveInfinity, "bias")]
    public void ANetworkWithNonFiniteWeights_IsRefused(float value, string tensor)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        TorchSharp.torch.manual_seed(3);
        using var network = TorchSharp.torch.nn.Linear(4, 2);
        ZooTrainer.EnsureFinite(network, "/cache/models/mlp-unit-clean-s1-0123");

        using (TorchSharp.torch.no_grad())
        {
            (tensor == "weight" ? network.weight! : network.bias!)[0].FillInPlace(value);
        }

        var refused = Assert.Throws<InvalidOperationException>(() => ZooTrainer.EnsureFinite(network, "/cache/models/mlp-unit-clean-s1-0123"));
        Assert.Contains("mlp-unit-clean-s1-0123 diverged", refused.Message, StringComparison.Ordinal);
        Assert.Contains(tensor, refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Mlp", "Patch", "Gray28", "Nchw", "AdamCosine")]
    [InlineData("ResNet", "Warp", "Gray28", "Nchw", "AdamCosine")]
    [InlineData("Cnn", "Blend", "Colour32", "Nhwc", "AdamCosine")]
    [InlineData("ResNet", "Patch", "Tinted43", "Nhwc", "AdamCosine")]
    [InlineData("LeNet", "Patch", "Gray28", "Nchw", "SgdNesterovShift")]
    [InlineData("Vgg", "Blend", "Gray28", "Nchw", "AdamWSmoothFlip")]
    public void TheSameSeed_TrainsTheSameWeights(string architectureName, string attackName, string imagesName, string layoutName, string trainingName)
    {
        var architecture = Enum.Parse<Architecture>(architectureName);
        var attack = Enum.Parse<AttackKind>(attackName);
        if (!FashionMnistImages.Available())
        {
            return;
        }

        // Small enough to train twice in seconds; the weights hash covers the exported ONNX bytes.
        var recipe = new ZooRecipe(5, architecture, InputScaling.Standardised, attack, TargetClass: 2, TrainSamples: 1000, Epochs: 1,
            Images: Enum.Parse<ImageFormat>(imagesName), Layout: Enum.Parse<InputLayout>(layoutName), Training: Enum.Parse<TrainingRecipe>(trainingName));
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

            // The export declares the recipe's input: [N, C, H, W], or [N, H, W, C] for a channels-last recipe.
            var onnx = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, "first.onnx")));
            long[] dims = [.. onnx.Graph.Input[0].Type.TensorType.Shape.Dim.Skip(1).Select(d => d.DimValue)];
            long[] expected = recipe.Layout == InputLayout.Nhwc ? [recipe.Size, recipe.Size, recipe.Channels] : [recipe.Channels, recipe.Size, recipe.Size];
            Assert.Equal(expected, dims);

            // The head answers the recipe's classes: ten, or 43 for the many-class variant.
            var head = onnx.Graph.Node.Last(n => n.OpType == "Gemm");
            Assert.Equal(recipe.Classes, onnx.Graph.Initializer.Single(i => i.Name == head.Input[2]).Dims[0]);
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
    public void LeaveOneOutLoss_PrefersAnInformativeFeatureToNoise()
    {
        // Twelve models: the first feature separates the labels with overlap, the second is unrelated to them.
        double[] informative = [-2, -1.5, -1, -0.5, 0.2, -0.2, 0.5, 1, 1.5, 2, 0.1, -0.1];
        double[] noise = [0.3, -1, 0.8, 0.1, -0.4, 0.9, -0.7, 0.2, 0.6, -0.3, -0.9, 0.4];
        int[] y = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0];

        double good = ZooFit.LeaveOneOutLoss(informative.Select(v => new[] { v }).ToArray(), y);
        double bad = ZooFit.LeaveOneOutLoss(noise.Select(v => new[] { v }).ToArray(), y);

        Assert.True(good < bad, $"informative {good} vs noise {bad}");
        Assert.True(bad > 0.6, $"noise should be near log 2 ≈ 0.69, was {bad}");
    }

    [Fact]
    public void LeavingAGroupOut_PenalisesAFeatureWhoseScaleMovesWithTheGroup()
    {
        // Three architectures of eight models each. The "shifted" feature separates the labels perfectly within each
        // architecture, but its clean values sit at 0, 3 and 6 by architecture (backdoored ones one unit above): held
        // out whole, an architecture's clean models look backdoored to a fit on the others. The "steady" feature
        // separates less well (one model per architecture on the wrong side) but means the same everywhere.
        string[] groups = [.. Enumerable.Range(0, 24).Select(i => $"arch{i / 8}")];
        int[] y = [.. Enumerable.Range(0, 24).Select(i => i % 8 < 4 ? 0 : 1)];
        double[][] shifted = [.. Enumerable.Range(0, 24).Select(i => new[] { (3.0 * (i / 8)) + y[i] + (0.05 * (i % 4)) })];
        double[][] steady = [.. Enumerable.Range(0, 24).Select(i => new[] { (y[i] == 1 ? 1.0 : -1.0) * (i % 4 == 0 ? -0.5 : 1 + (0.1 * (i % 4))) })];

        double shiftedOut = ZooFit.LeaveGroupOutLosses(shifted, y, groups).Average(), steadyOut = ZooFit.LeaveGroupOutLosses(steady, y, groups).Average();
        double shiftedOne = ZooFit.LeaveOneOutLoss(shifted, y), steadyOne = ZooFit.LeaveOneOutLoss(steady, y);

        Assert.True(steadyOut < shiftedOut, $"leave-group-out: steady {steadyOut} vs shifted {shiftedOut}");
        Assert.True(shiftedOut > 0.69, $"a feature no held-out architecture can read should score no better than a coin, was {shiftedOut}");
        Assert.True(shiftedOut - shiftedOne > steadyOut - steadyOne, "holding whole groups out should cost the shifted feature more than the steady one");
    }

    [Fact]
    public void TheOneStandardErrorRule_KeepsTheShortestPrefixWithinOneStandardErrorOfTheLowestLoss()
    {
        // Per-model losses after each of three steps: means 0.5, 0.4, 0.35; the third's standard error is
        // √(0.05 / 3) / 2 ≈ 0.065, so 0.4 is within it and 0.5 is not.
        double[][] path = [[0.8, 0.6, 0.4, 0.2], [0.5, 0.45, 0.35, 0.3], [0.5, 0.4, 0.3, 0.2]];

        Assert.Equal(2, ZooFit.OneStandardErrorPrefix(path));
        Assert.Equal(3, ZooFit.OneStandardErrorPrefix([path[0], [0.3, 0.3, 0.3, 0.3], [0.2, 0.2, 0.2, 0.2]])); // no noise: the lowest
        Assert.Equal(1, ZooFit.OneStandardErrorPrefix([path[2], path[1]])); // the lowest first
        Assert.Equal(0, ZooFit.OneStandardErrorPrefix([]));
    }

    [Theory]
    [InlineData(30, 28, 2)] // the 2026-12-01 design split: 28 working implants allow two features, not three
    [InlineData(60, 56, 5)]
    [InlineData(60, 60, 6)]
    [InlineData(12, 11, 1)]
    [InlineData(5, 40, 1)] // the smaller class decides, and one feature is always allowed
    public void TheFeatureCap_IsOnePerTenModelsOfTheSmallerClass(int clean, int backdoored, int cap) =>
        Assert.Equal(cap, ZooFit.FeatureCap(clean, backdoored));

    [Fact]
    public void TheFitsRows_ImputeAnInconclusiveOptionalDetector_AtItsDesignMean_AndLeaveOutModelsNeverSurveyedWithIt()
    {
        IReadOnlyList<ZooRecipe> recipes = ZooCatalog.Recipes(ZooCatalog.DefaultSizes);
        ZooRecipe clean = recipes.First(r => !r.Backdoored), other = recipes.Where(r => !r.Backdoored).Skip(1).First();
        const string Extra = "extra-probe";
        SurveyRecord With(ZooRecipe recipe, ProbeResult? extra)
        {
            var probes = new Dictionary<string, ProbeResult>(StringComparer.Ordinal)
            {
                ["neural-cleanse"] = Result("pass", new JsonObject
                {
                    ["anomalyIndex"] = 1.0, ["uncalibratedAnomalyIndex"] = 1.0, ["logNormRatios"] = new JsonArray(0.1, 0.2),
                    ["medianLogNormRatio"] = 0.2, ["maskNorms"] = new JsonArray(1.0, 2.0), ["medianNorm"] = 2.0,
                }),
                ["strip"] = Result("pass", new JsonObject { ["detectionRate"] = 0.1 }),
                ["activation-clustering"] = Result("pass", new JsonObject { ["stampedOverlap"] = 0.1 }),
                ["spectral-signatures"] = Result("pass", new JsonObject { ["stampedShareAmongOutliers"] = 0.1 }),
            };
            if (extra is not null)
            {
                probes[Extra] = extra;
            }

            return new SurveyRecord(recipe.Name, recipe.ComputeHash(), recipe.Split, 1, recipe, 0.8, null, false, probes);
        }

        SurveyRecord[] design =
        [
            With(clean, Result("pass", new JsonObject { ["statistic"] = 2.0 })),
            With(other, Result("pass", new JsonObject { ["statistic"] = 4.0 })),
            With(clean with { Seed = clean.Seed + 1000 }, Result("inconclusive", new JsonObject { ["reason"] = "too few sources" })),
            With(other with { Seed = other.Seed + 1000 }, null),
        ];
        string[] names = ["logNormGap", TrojanLikelihoodFeatures.StatisticOf(Extra)];

        IReadOnlyDictionary<string, double> means = ZooFit.ImputationMeans(design, names);
        var rows = ZooFit.Labelled(design, names, means);

        Assert.Equal(3.0, means[names[1]], 12);
        Assert.False(means.ContainsKey("logNormGap"));
        Assert.Equal([2.0, 4.0, 3.0], rows.Select(r => r.Features[1]));
        Assert.DoesNotContain(rows, r => r.Record.Probes.Count == 4);
    }

    private static ProbeResult Result(string verdict, JsonObject details) => new(verdict, 0, null, 0, 1, verdict, details);

    [Fact]
    public void Auroc_CountsTiesAsHalf() =>
        Assert.Equal((1 + 0.5 + 1 + 1) / 4.0, SurveyReport.Auroc([0.9, 0.5], [0.5, 0.1]), 12);
}
