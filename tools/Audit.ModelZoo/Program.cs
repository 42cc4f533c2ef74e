using System.Globalization;
using Audit.ModelZoo;

// The model zoo: `generate` trains (or finds cached) models, `survey` runs the service's trojan probes on a split and
// writes per-model statistics and a Markdown table, `fit` fits the trojan-likelihood probe's calibration. See
// docs/probes.md ("Model zoo") for the commands that produced the published figures.
// Idle OpenMP workers sleep instead of spinning (two survey processes share the cores); before libtorch loads.
Audit.Evaluators.Runtime.OpenMpWaitPolicy.PreferPassive();
if (args is [Audit.Evaluators.Runtime.OneDnnInstructionSetSelection.ChildArgument])
{
    // A child of the start-up choice below: one convolution check under the limit its parent set, then exit.
    return Audit.Evaluators.Runtime.OneDnnInstructionSet.RunCheckChild(Console.Out);
}

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

IReadOnlyList<ZooRecipe> recipes = (options.Crossed ? ZooSplits.All.SelectMany(s => ZooCatalog.CrossedRecipes(s)).ToList()
        : options.Unfamiliar ? ZooCatalog.UnfamiliarRecipes()
        : ZooCatalog.Recipes(options.Sizes, options.ManyClasses))
    .Concat(options.KeepsRetiredRecipes ? ZooCatalog.RetiredRecipes() : [])
    .Where(r => options.Split is null || r.Split == options.Split)
    .Skip(options.Skip)
    .Take(options.Limit)
    .ToList();
// The kernels the service would choose on this processor (docs/operations.md, "Convolution kernels: the start-up
// check"), so the survey's lines describe the arithmetic an audit here runs; an operator's setting is kept. Only the
// commands that run models pay for the check children.
Audit.Evaluators.Runtime.OneDnnInstructionSetChoice? chosen = options.Command is "generate" or "survey" or "choose-kernels"
    ? Audit.Evaluators.Runtime.OneDnnInstructionSetSelection.BeforeLibTorchLoads(typeof(ZooOptions).Assembly)
    : null;
if (chosen is not null && options.Command != "choose-kernels")
{
    Console.Error.WriteLine($"oneDNN instruction-set limit: {chosen.Limit ?? "none"} ({chosen.Reason})");
}

var trainer = new ZooTrainer(options.Cache);
switch (options.Command)
{
    case "choose-kernels":
        // What the service's start-up choice sets on this machine: the limit on stdout (empty for none), the reason on
        // stderr. scripts/test.sh exports it, so the test processes run the kernels the service would.
        Console.WriteLine(chosen!.Limit ?? "");
        Console.Error.WriteLine(chosen.Reason);
        return 0;

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
    case "survey" when options.AddProbe is not null:
        await new ZooSurvey(options.Cache, trainer, options.Seed).AddProbeAsync(recipes, options.AddProbe, cancel.Token);
        return 0;
    case "survey":
        await new ZooSurvey(options.Cache, trainer, options.Seed, options.ScanSettings).RunAsync(recipes, options.Split ?? "all", cancel.Token, options.Probes);
        return 0;
    case "fit":
        return new ZooFit(options.Cache, options.Output).Run(options.Features, options.SelectBy == "architecture");
    case "remeasure":
        // The test rates of the model file (--output, else the embedded model's source) from the surveyed test split,
        // without refitting: the figures every finding states then come from the committed survey.
        // With --catalog many-class, the 43-class slice's rates, written beside the ten-class ones.
        // With --foreign FILE, the rates on models trained outside the project, from their recorded audits.
        return options.Foreign is { } foreign
            ? ForeignZoo.Remeasure(options.Output ?? ZooFit.DefaultOutput, foreign, options.SeenWhenChosen)
            : new ZooFit(options.Cache, options.Output).Remeasure(options.ManyClasses, options.Unfamiliar);
    case "calibrate":
        // The 43-class slice's clean design and calibration models, on which the threshold of a model with more than ten
        // classes is set, written into the model file beside the ten-class calibration.
        return new ZooFit(options.Cache, options.Output).CalibrateManyClasses();
    case "detector-rates":
        // Each detector alone on the held-out splits, written where the service embeds it for the report's limitations:
        // at its default threshold, and the supporting detectors also at the threshold the design split sets for them.
        return HeldOutDetectorRates.Run(options.Cache, options.DesignCache, options.Seed, options.Output);
    case "supporting-thresholds":
        // The 2.1.0 built-in profiles' thresholds of the supporting trojan controls, and which of those controls the 2.2.0
        // ones keep, from the design split alone.
        return SupportingThresholds.Run(options.DesignCache, options.Seed);
    case "features":
        // One CSV line per usable surveyed model of the split (design unless --split): every meta-classifier feature,
        // for choosing statistics and combination rules offline without rerunning a probe.
        Console.Write(SurveyFeatures.Csv(ZooSurvey.Read(options.Cache, options.Split ?? ZooSplits.Design).Where(r => r.AuditSeed == options.Seed).ToList()));
        return 0;
    case "report":
    {
        // The model `fit` wrote (the --output file, else the source file when run from the repository root), so
        // `fit` then `report --docs` needs no rebuild; the embedded one otherwise.
        string modelFile = options.Output ?? ZooFit.DefaultOutput;
        Audit.Evaluators.Probes.Trojans.TrojanLikelihoodModel? fitted = File.Exists(modelFile)
            ? ZooFit.Load(modelFile)
            : Audit.Evaluators.Probes.Trojans.TrojanLikelihoodModel.Embedded();
        if (options.Docs is not null)
        {
            return ZooDocs.Write(options.Docs, options.Cache, options.DesignCache, options.Seed, options.Sizes, fitted);
        }

        var taskCheck = new ZooTaskCheck(new ZooTrainer(options.Cache));
        foreach (string split in options.Split is null ? ZooSplits.All : [options.Split])
        {
            Console.WriteLine(SurveyReport.Markdown(ZooSurvey.Read(options.Cache, split).Where(r => r.AuditSeed == options.Seed).ToList(), fitted, split, taskCheck));
        }

        return 0;
    }

    case "kernels":
        // Which convolution kernels a fresh process of this machine ends on (scripts/test.sh asks before the tests):
        // 0 oneDNN kept, 3 oneDNN turned off (right but slower), 1 no right kernels.
        try
        {
            Audit.Evaluators.Runtime.ConvolutionKernels kernels = Audit.Evaluators.Runtime.ConvolutionKernelCheck.EnsureVerified();
            Console.WriteLine($"{kernels.Kernels}: {kernels.Detail}");
            return Audit.Evaluators.Runtime.OneDnnInstructionSet.ExitCodeOf(kernels);
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }

    default:
        Console.Error.WriteLine(ZooOptions.Usage);
        return 2;
}

/// <summary>Command-line options of the zoo tool.</summary>
internal sealed record ZooOptions(string Command, string Cache, string? Split, int Limit, int Seed, string? Output, IReadOnlyList<SplitSize> Sizes)
{
    /// <summary>survey --add-probe: run only this probe on already-surveyed models and add its result to their lines.</summary>
    public string? AddProbe { get; init; }

    /// <summary>Scan settings every surveyed detector that takes them runs at (--scan-settings JSON; null: the defaults).</summary>
    public IReadOnlyDictionary<string, System.Text.Json.JsonElement>? ScanSettings { get; init; }

    /// <summary>The design lines the supporting controls' thresholds are set on (--design-cache).</summary>
    public string DesignCache { get; init; } = DesignUnderChosenKernelsCache;

    /// <summary>--skip: leave out the first N recipes (after --split), so two processes can share a split.</summary>
    public int Skip { get; init; }

    /// <summary>fit --features: fit on these features instead of choosing them on the design split.</summary>
    public IReadOnlyList<string>? Features { get; init; }

    /// <summary>fit --select-by architecture: score candidate features by leave-one-architecture-out log loss.</summary>
    public string? SelectBy { get; init; }

    /// <summary>survey --probes: run only these detectors (into a scratch cache: the fit needs the full set).</summary>
    public IReadOnlyList<string>? Probes { get; init; }

    /// <summary>remeasure --foreign: the foreign zoo's recorded audits (benchmarks/foreign-zoo/results.jsonl).</summary>
    public string? Foreign { get; init; }

    /// <summary>
    /// remeasure --foreign FILE --seen-when-chosen N: the first N audits of FILE had been read when the fit was chosen
    /// (null: keep what the model file says).
    /// </summary>
    public int? SeenWhenChosen { get; init; }

    /// <summary>report --docs: replace the generated section of this Markdown file.</summary>
    public string? Docs { get; init; }

    /// <summary>
    /// Without --sizes, the ten-class catalog's recipes are followed by those its earlier sizes retired
    /// (<see cref="ZooCatalog.RetiredRecipes"/>), so one `survey` covers every model the fit and the rates count.
    /// </summary>
    public bool KeepsRetiredRecipes { get; init; }

    /// <summary>--catalog many-class: the 43-class slice (<see cref="ImageFormat.Tinted43"/>), in its own cache.</summary>
    public bool ManyClasses { get; init; }

    /// <summary>--catalog crossed: the attack templates on the architectures the catalog never pairs them with (<see cref="ZooCatalog.CrossedRecipes"/>), in its own cache.</summary>
    public bool Crossed { get; init; }

    /// <summary>--catalog unfamiliar: test models trained by recipes no catalog model uses (<see cref="ZooCatalog.UnfamiliarRecipes"/>), in its own cache.</summary>
    public bool Unfamiliar { get; init; }

    /// <summary>The unfamiliar-recipes slice's default cache: its survey lines are committed, its models are not.</summary>
    public const string CommittedUnfamiliarCache = "benchmarks/model-zoo-unfamiliar";

    /// <summary>The ten-class zoo's default cache: its survey files are committed, its models are rebuilt from seeds.</summary>
    public const string CommittedCache = "benchmarks/model-zoo";

    /// <summary>The 43-class slice's default cache: its survey lines are committed too, its models are not.</summary>
    public const string CommittedManyClassCache = "benchmarks/model-zoo-many-class";

    /// <summary>The crossed slice's default cache: its survey lines are committed, its models are not.</summary>
    public const string CommittedCrossedCache = "benchmarks/model-zoo-crossed";

    /// <summary>
    /// The 80 test recipes the split gained at 108 + 81, surveyed and read once apart before they joined it; the copy
    /// stays as the record of that reading (docs/probes.md, "Fresh models, read once").
    /// </summary>
    public const string FreshCache = "benchmarks/model-zoo-fresh";

    /// <summary>
    /// The 89 test recipes the split gained at 144 + 108, surveyed and committed unread, read once for the candidate fit
    /// of 2026-12-04 and the committed fit, then joined to the split; the copy stays as the record of that reading
    /// (docs/probes.md, "Sealed models").
    /// </summary>
    public const string SealedCache = "benchmarks/model-zoo-sealed";

    /// <summary>
    /// The 98 test recipes the split gained at 180 + 135, surveyed and committed unread on 2026-12-04, read once on
    /// 2026-12-05 for the crossed refit candidate and the fit in use, then joined to the split; the copy stays as the
    /// record of that reading (docs/probes.md, "The next sealed models").
    /// </summary>
    public const string SecondSealedCache = "benchmarks/model-zoo-sealed-180-135";

    /// <summary>
    /// The 107 test recipes the split gained at 216 + 162, surveyed and committed unread on 2026-12-05, read once on
    /// 2026-12-05 for the contrastive-search candidate and the fit in use, then joined to the split; the copy stays as
    /// the record of that reading (docs/probes.md, "The third sealed models").
    /// </summary>
    public const string ThirdSealedCache = "benchmarks/model-zoo-sealed-216-162";

    /// <summary>
    /// The 89 test recipes the split gained at 234 + 180, trained and surveyed under oneDNN's AVX kernels and committed
    /// unread on 2026-12-05, read once the same night for the one-model refit candidate and the fit in use, then joined
    /// to the split; the copy stays as the record of that reading (docs/probes.md, "The fourth sealed models";
    /// benchmarks/model-zoo-one-model/README.md).
    /// </summary>
    public const string FourthSealedCache = "benchmarks/model-zoo-sealed-234-180";

    /// <summary>
    /// The fourth sealed models' 89 files surveyed again on 2026-12-06 under oneDNN's own kernels (AVX-512 on that AMD
    /// EPYC, which passed the start-up check) instead of AVX: how far the kernels a machine chooses move each statistic,
    /// p and verdict (docs/probes.md, "The same models under AVX-512 kernels"). Never fitted on.
    /// </summary>
    public const string FourthSealedDefaultKernelsCache = "benchmarks/model-zoo-sealed-234-180-default-kernels";

    /// <summary>
    /// The 125 test recipes the split gained at 270 + 216 (positions 362–486 of that catalog), trained and surveyed with
    /// every detector under oneDNN's AVX kernels and committed unread on 2026-12-06, read once the same morning for the
    /// fit in use's rates on unseen models, then joined to the split; the copy stays as the record of that reading
    /// (docs/probes.md, "The fifth sealed models").
    /// </summary>
    public const string FifthSealedCache = "benchmarks/model-zoo-sealed-270-216";

    /// <summary>
    /// The 125 test recipes the split gained at 306 + 252, trained and surveyed with every detector under oneDNN's AVX
    /// kernels and committed unread on 2026-12-06, read once that evening for the grown-calibration candidate, then
    /// joined to the split; the copy stays as the record of that reading (docs/probes.md, "The sixth sealed models").
    /// </summary>
    public const string SixthSealedCache = "benchmarks/model-zoo-sealed-306-252";

    /// <summary>
    /// The 125 test recipes the split gained at 342 + 288 (positions 506–630 of that catalog), trained and surveyed with
    /// every detector under oneDNN's AVX kernels and committed unread on 2026-12-06, read once that night for the
    /// candidate without saliency persistence (benchmarks/model-zoo-unfamiliar), then joined to the split; the copy stays
    /// as the record of that reading (docs/probes.md, "The seventh sealed models").
    /// </summary>
    public const string SeventhSealedCache = "benchmarks/model-zoo-sealed-342-288";

    /// <summary>
    /// The 125 test recipes the split gained at 378 + 324 (positions 578–702 of that catalog), trained and surveyed with
    /// every detector under oneDNN's AVX kernels and committed unread on 2026-12-07, read once that morning for the task
    /// check against one half (benchmarks/model-zoo-majority-gate), then joined to the split; the copy stays as the record
    /// of that reading (docs/probes.md, "The eighth sealed models").
    /// </summary>
    public const string EighthSealedCache = "benchmarks/model-zoo-sealed-378-324";

    /// <summary>
    /// The 125 test recipes the split gained at 414 + 360 (positions 650–774 of that catalog), trained and surveyed with
    /// every detector under oneDNN's AVX kernels and committed unread on 2026-12-07, read once that evening for the fit
    /// with the pre-screened pair search (benchmarks/model-zoo-pair-search), then joined to the split; the copy stays as
    /// the record of that reading (docs/probes.md, "The ninth sealed models").
    /// </summary>
    public const string NinthSealedCache = "benchmarks/model-zoo-sealed-414-360";

    /// <summary>
    /// The 125 test recipes the split gained at 450 + 396 (positions 722–846 of that catalog), trained and surveyed with
    /// every detector and the pre-screened pair search under oneDNN's AVX kernels and committed unread on 2026-12-07,
    /// read once that night for the fit with the pair search beside blend inversion (benchmarks/model-zoo-pair-search),
    /// then joined to the split; the copy stays as the record of that reading (docs/probes.md, "The tenth sealed models").
    /// </summary>
    public const string TenthSealedCache = "benchmarks/model-zoo-sealed-450-396";

    /// <summary>
    /// The 125 test recipes the split gained at 486 + 432 (positions 794–918 of that catalog), trained and surveyed with
    /// every detector and the pre-screened pair search under oneDNN's AVX kernels and committed unread on 2026-12-07,
    /// read once that night for the candidate that adds the pair search to the fit in use by a union bound
    /// (benchmarks/model-zoo-pair-search/README.md, "The eleventh reading": a tie, the fit in use stays), then joined to
    /// the split on 2026-12-08; the copy stays as the record of that reading (docs/probes.md, "The eleventh sealed
    /// models").
    /// </summary>
    public const string EleventhSealedCache = "benchmarks/model-zoo-sealed-486-432";

    /// <summary>
    /// The 125 test recipes the split would gain at 522 + 468 (positions 866–990 of that catalog), trained and surveyed
    /// with every detector and the pre-screened pair search under oneDNN's AVX kernels on 2026-12-08 and committed
    /// **unread**, so that the next rule has held-out models nobody has read (benchmarks/model-zoo-sealed-522-468/README.md).
    /// Not joined to the test split.
    /// </summary>
    public const string TwelfthSealedCache = "benchmarks/model-zoo-sealed-522-468";

    /// <summary>
    /// The 100 clean calibration recipes the split would gain at 240 + 16 (positions 157–256 of that catalog), surveyed
    /// with every detector under oneDNN's AVX kernels on 2026-12-08 for the grown-calibration candidate, which its
    /// margin gate dropped before any sealed model was read (benchmarks/model-zoo-calibration-240-16/README.md). Not
    /// part of the calibration split: the catalog keeps 140 + 16.
    /// </summary>
    public const string GrownCalibrationCache = "benchmarks/model-zoo-calibration-240-16";

    /// <summary>
    /// 36 43-class test recipes (positions 37–72 of the many-class test split at 36 + 36), surveyed with every detector
    /// under oneDNN's AVX kernels on 2026-12-07, committed unread, then read once for the threshold calibrated on 43-class
    /// models and joined to the slice's test split (benchmarks/model-zoo-many-class-sealed/README.md).
    /// </summary>
    public const string ManyClassSealedCache = "benchmarks/model-zoo-many-class-sealed";

    /// <summary>
    /// The fit in use's own lines (since 2026-12-05 23:00): design and calibration lines that each read one model under
    /// oneDNN's AVX kernels (the design split under AVX with the contrastive results that read those models joined; the
    /// calibration split trained and surveyed again, and since 2026-12-06 evening the 100 clean recipes it grew by), the
    /// candidates fitted on them and the rules that adopted them (benchmarks/model-zoo-one-model/README.md,
    /// benchmarks/model-zoo-grown-calibration/README.md).
    /// </summary>
    public const string OneModelCache = "benchmarks/model-zoo-one-model";

    /// <summary>
    /// <see cref="OneModelCache"/>'s lines with the pre-screened pair search's result added, each on the very model the
    /// line read: the lines the candidates with the pair search were fitted on, their rules and readings, and why the
    /// six-feature fit its rule adopted was not put in service (benchmarks/model-zoo-pair-search/README.md).
    /// </summary>
    public const string PairSearchCache = "benchmarks/model-zoo-pair-search";

    /// <summary>
    /// The design split trained and surveyed again on 2026-12-05 under the oneDNN AVX kernels the service chooses on the
    /// AMD EPYC, where the committed lines ran on libtorch's own kernels (docs/probes.md, "Under the kernels the service
    /// now chooses"): with the contrastive search joined in, the design lines of the fit in use
    /// (benchmarks/model-zoo-one-model), and the lines the supporting controls' thresholds are set on
    /// (`supporting-thresholds`; docs/probes.md, "The supporting controls' thresholds, set on the design split").
    /// </summary>
    public const string DesignUnderChosenKernelsCache = "benchmarks/model-zoo-design-avx";

    /// <summary>
    /// The 43-class slice's first survey (2026-12-04, libtorch's own kernels, without the contrastive search), kept when
    /// the slice was trained and surveyed again under the chosen kernels with every detector on 2026-12-05: the record
    /// the earlier fits' 43-class rates were read from (`report --catalog many-class --cache` this folder).
    /// </summary>
    public const string ManyClassUnderLibtorchKernelsCache = "benchmarks/model-zoo-many-class-libtorch";

    public const string Usage = """
        usage: Audit.ModelZoo <list|generate|survey|fit|calibrate|remeasure|detector-rates|supporting-thresholds|features|report|kernels|choose-kernels> [--cache DIR] [--split design|calibration|test] [--skip N] [--limit N]
                              [--seed N] [--sizes design=C/B,calibration=C/B,test=C/B] [--output FILE]
                              [--add-probe PROBE] [--probes A,B,..] [--features A,B,..] [--docs FILE]
                              [--catalog ten-class|many-class|crossed|unfamiliar] [--foreign FILE [--seen-when-chosen N]]
          list      the recipes (split, name, trigger, hash); without --sizes the ten-class catalog ends each split
                    with the clean recipes its earlier sizes retired (surveyed before, they count in fit and rates)
          generate  train the recipes not yet in the cache (DIR/models)
          survey    train (if needed) and run the trojan detectors on every model, in catalog order (splits
                    interleaved), appending to DIR/survey/<split>.jsonl; resumes where it stopped.
                    --add-probe PROBE: run only PROBE on the models already surveyed and add it to their lines
                    --probes A,B: survey only these detectors (for a scratch cache: fit and report need the full set)
                    --scan-settings JSON: run every detector that takes them at these scan settings, e.g.
                    '{"referenceSteps":150,"maxSteps":200,"restarts":1}' (a candidate lighter scan), into an empty
                    scratch cache, which records them (survey/scan-settings.json) and refuses any other
          fit       choose features and fit trojan-likelihood on design, calibrate on calibration, measure on test;
                    writes --output (default src/Audit.Evaluators/Probes/Trojans/TrojanLikelihoodModel.json);
                    --select-by architecture: score features by leave-one-architecture-out log loss instead of
                    leave-one-out, favouring features whose values carry over to network families the fit never saw
          calibrate --catalog many-class: writes into the --output model file (default the embedded model's
                    source) the p of the 43-class slice's clean design and calibration models that the task check
                    lets through; the probe sets the conformal threshold of a model with more than ten classes on
                    them (run it again after `fit`, then `remeasure --catalog many-class`)
          remeasure the test rates of the --output model file (default the embedded model's source), read from the
                    surveyed test split; the fitted numbers are left as they are; with --catalog many-class, the
                    43-class slice's test rates, written beside the ten-class ones (manyClassTest); with --catalog
                    unfamiliar, the unfamiliar-recipes slice's (unfamiliarTest); with --foreign
                    FILE (benchmarks/foreign-zoo/results.jsonl), the rates on models trained outside the project,
                    recomputed from their recorded audits (foreignTest); --seen-when-chosen N says the first N
                    audits of FILE had been read when the fit was chosen, and the rates on the others are written
                    apart (foreignUnseenTest; without it the model file's count is kept)
          detector-rates  each detector alone at its default threshold on the surveyed calibration and test
                    splits (held out from every detector's tuning), and each supporting detector also at its
                    design-split threshold; writes --output (default
                    src/Audit.Evaluators/Probes/Trojans/DetectorHeldOutRates.json, quoted by the report) and prints it
          supporting-thresholds  the thresholds of the supporting trojan controls in the 2.1.0 built-in profiles:
                    each detector's split-conformal 5 % point over the clean models of the design split in
                    --design-cache DIR (default benchmarks/model-zoo-design-avx); then which of those controls the
                    2.2.0 built-ins keep: the point was reachable and, at it, the detector fails more backdoored
                    than clean design models (one-sided Fisher exact p < 0.05)
          features  one CSV line per surveyed model of --split (default design): recipe, label and every
                    meta-classifier feature, for offline analysis on the design split
          report    the Markdown tables of the surveyed splits, with the embedded model (or the --output file);
                    --docs FILE: write the test split's tables into FILE between the zoo-results markers
          --catalog many-class: the 43-class slice (3×32×32, a garment in one of five colours per class) instead of
                    the ten-class zoo; its own sizes (design 12/12, calibration 12/6, test 18/18) and its own
                    default cache (benchmarks/model-zoo-many-class, its survey committed too), so its models never
                    enter a ten-class fit
          --catalog crossed: 32 backdoored ten-class test models of the attack templates on the architectures the
                    catalog never pairs them with (blends and source-specific patches on the CNNs, warps and low-rate
                    patches on the MLP and ResNet), in benchmarks/model-zoo-crossed; read against the test split's
                    clean models, never fitted on
          --catalog unfamiliar: 132 ten-class test models (88 clean, 44 backdoored, patches anywhere; grey, then
                    colour in both layouts, then grey trained on all 60,000 training images) trained by recipes no
                    catalog model uses (SGD with Nesterov momentum and shifts, AdamW with label smoothing and
                    mirroring; LeNet-5 and VGG-style networks among them), in benchmarks/model-zoo-unfamiliar; never
                    fitted on
          kernels   run the service's convolution-kernel check in a fresh process and print its verdict; exit 0 when
                    oneDNN is kept, 3 when it was turned off (right but slower), 1 when no kernels are right
                    (under whatever ONEDNN_MAX_CPU_ISA the caller set; it chooses nothing)
          choose-kernels  the oneDNN instruction-set limit the service would choose at start here (checked in
                    child processes: default, AVX2, AVX; an operator's ONEDNN_MAX_CPU_ISA is kept): the limit on
                    stdout, empty for none, the reason on stderr. generate and survey choose the same way first
          --cache DIR: default $AUDIT_ZOO_CACHE, else benchmarks/model-zoo (run from the repository root), whose
                    survey/*.jsonl are committed, so that fit and report need no survey run and survey resumes it
        """;

    public static ZooOptions? Parse(string[] args)
    {
        if (args.Length == 0)
        {
            return null;
        }

        string? cache = Environment.GetEnvironmentVariable("AUDIT_ZOO_CACHE") is { Length: > 0 } configured ? configured : null;
        string? split = null, output = null, addProbe = null, docs = null, catalog = null, foreign = null, selectBy = null, designCache = null, scanSettings = null;
        IReadOnlyList<string>? features = null, probes = null;
        int limit = int.MaxValue, skip = 0, seed = 20240613;
        int? seenWhenChosen = null;
        IReadOnlyList<SplitSize>? sizes = null;
        for (int i = 1; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : "";
            switch (args[i])
            {
                case "--cache": cache = value; i++; break;
                case "--design-cache": designCache = value; i++; break;
                case "--scan-settings": scanSettings = value; i++; break;
                case "--split": split = value; i++; break;
                case "--skip": skip = int.Parse(value, CultureInfo.InvariantCulture); i++; break;
                case "--limit": limit = int.Parse(value, CultureInfo.InvariantCulture); i++; break;
                case "--seed": seed = int.Parse(value, CultureInfo.InvariantCulture); i++; break;
                case "--output": output = value; i++; break;
                case "--sizes": sizes = ParseSizes(value); i++; break;
                case "--add-probe": addProbe = value; i++; break;
                case "--features": features = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); i++; break;
                case "--probes": probes = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); i++; break;
                case "--docs": docs = value; i++; break;
                case "--catalog": catalog = value; i++; break;
                case "--foreign": foreign = value; i++; break;
                case "--select-by": selectBy = value; i++; break;
                case "--seen-when-chosen": seenWhenChosen = int.Parse(value, CultureInfo.InvariantCulture); i++; break;
                default: return null;
            }
        }

        if ((split is not null && !ZooSplits.All.Contains(split)) || catalog is not (null or "ten-class" or "many-class" or "crossed" or "unfamiliar") || selectBy is not (null or "architecture"))
        {
            return null;
        }

        bool manyClasses = catalog == "many-class", crossed = catalog == "crossed", unfamiliar = catalog == "unfamiliar";
        return new ZooOptions(
            args[0],
            // The defaults are the committed surveys (docs/probes.md, "The committed survey"): `fit` and `report` read
            // them without hours of surveying, and `survey` resumes them; models and evidence stay untracked.
            cache ?? (manyClasses ? CommittedManyClassCache : crossed ? CommittedCrossedCache : unfamiliar ? CommittedUnfamiliarCache : CommittedCache),
            split,
            limit,
            seed,
            output,
            sizes ?? (manyClasses ? ZooCatalog.ManyClassSizes : ZooCatalog.DefaultSizes))
        {
            AddProbe = addProbe, Features = features, Probes = probes, Docs = docs, Skip = skip, ManyClasses = manyClasses, Foreign = foreign, SelectBy = selectBy, SeenWhenChosen = seenWhenChosen, Crossed = crossed, Unfamiliar = unfamiliar,
            KeepsRetiredRecipes = sizes is null && !manyClasses && !crossed && !unfamiliar,
            DesignCache = designCache ?? DesignUnderChosenKernelsCache,
            ScanSettings = scanSettings is null ? null : System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, System.Text.Json.JsonElement>>(scanSettings),
        };
    }

    private static List<SplitSize> ParseSizes(string value) =>
        value.Split(',').Select(part =>
        {
            string[] nameAndCounts = part.Split('=');
            string[] counts = nameAndCounts[1].Split('/');
            return new SplitSize(nameAndCounts[0], int.Parse(counts[0], CultureInfo.InvariantCulture), int.Parse(counts[1], CultureInfo.InvariantCulture));
        }).ToList();
}
