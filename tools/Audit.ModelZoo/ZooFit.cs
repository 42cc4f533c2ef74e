using System.Globalization;
using System.Text.Json;
using Audit.Evaluators.Probes.Trojans;

namespace Audit.ModelZoo;

/// <summary>
/// Fits trojan-likelihood: logistic regression on the design split, Platt scaling and the conformal clean scores on
/// the calibration split, and the measured rates on the test split (read only to report). Writes the model JSON the
/// probe embeds.
/// </summary>
internal sealed class ZooFit(string cacheFolder, string? output)
{
    public const string DefaultOutput = "src/Audit.Evaluators/Probes/Trojans/TrojanLikelihoodModel.json";

    /// <summary>Ridge penalty on the standardised coefficients: the design split is small and often separable.</summary>
    public const double Ridge = 1.0;

    public static double[] Bins { get; } = [0, 0.1, 0.5, 0.9, 1];

    public int Run()
    {
        List<(double[] Features, int Label, SurveyRecord Record)> design = Labelled(SurveyReportData(ZooSplits.Design));
        List<(double[] Features, int Label, SurveyRecord Record)> calibration = Labelled(SurveyReportData(ZooSplits.Calibration));
        List<(double[] Features, int Label, SurveyRecord Record)> test = Labelled(SurveyReportData(ZooSplits.Test));
        if (design.Count(d => d.Label == 1) < 2 || design.Count(d => d.Label == 0) < 2 || calibration.Count(c => c.Label == 0) < 2)
        {
            Console.Error.WriteLine($"Too few surveyed models to fit: design {design.Count}, calibration {calibration.Count}. Run `survey --split design` and `--split calibration` first.");
            return 1;
        }

        TrojanLikelihoodModel model = Fit(design.Select(d => (d.Features, d.Label)).ToList(), calibration.Select(c => (c.Features, c.Label)).ToList(), DateTimeOffsetText());
        model = model with { Test = test.Count == 0 ? null : Measure(model, test) };
        string path = output ?? DefaultOutput;
        File.WriteAllText(path, JsonSerializer.Serialize(model, TrojanLikelihoodModel.JsonOptions) + "\n");
        Console.WriteLine($"wrote {path}: design {design.Count(d => d.Label == 0)} clean + {design.Count(d => d.Label == 1)} backdoored, calibration {calibration.Count(c => c.Label == 0)} + {calibration.Count(c => c.Label == 1)}, test {test.Count(t => t.Label == 0)} + {test.Count(t => t.Label == 1)}");
        Console.WriteLine(JsonSerializer.Serialize(model.Test, TrojanLikelihoodModel.JsonOptions));
        return 0;
    }

    /// <summary>Reads a model file the fit command wrote.</summary>
    public static TrojanLikelihoodModel Load(string path) =>
        JsonSerializer.Deserialize<TrojanLikelihoodModel>(File.ReadAllText(path), TrojanLikelihoodModel.JsonOptions)!;

    private List<SurveyRecord> SurveyReportData(string split) => ZooSurvey.Read(cacheFolder, split);

    private static string DateTimeOffsetText() =>
        TimeProvider.System.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm'Z'", CultureInfo.InvariantCulture) + " by tools/Audit.ModelZoo fit";

    /// <summary>Clean models (label 0) and backdoored models whose backdoor took (label 1); failed implants are left out.</summary>
    public static List<(double[] Features, int Label, SurveyRecord Record)> Labelled(IEnumerable<SurveyRecord> records) =>
        records.Where(r => r.Features is not null && (!r.Recipe.Backdoored || r.Implanted))
            .Select(r => (r.Features!, r.Recipe.Backdoored ? 1 : 0, r))
            .ToList();

    /// <summary>Logistic regression on <paramref name="design"/>, Platt scaling and conformal scores from <paramref name="calibration"/>.</summary>
    public static TrojanLikelihoodModel Fit(IReadOnlyList<(double[] Features, int Label)> design, IReadOnlyList<(double[] Features, int Label)> calibration, string generated)
    {
        int d = design[0].Features.Length;
        double[] means = new double[d], scales = new double[d];
        for (int j = 0; j < d; j++)
        {
            means[j] = design.Average(x => x.Features[j]);
            double variance = design.Average(x => Math.Pow(x.Features[j] - means[j], 2));
            scales[j] = Math.Sqrt(variance) > 1e-9 ? Math.Sqrt(variance) : 1;
        }

        double[][] standardised = design.Select(x => x.Features.Select((v, j) => (v - means[j]) / scales[j]).ToArray()).ToArray();
        (double[] weights, double intercept) = Logistic(standardised, design.Select(x => x.Label).ToArray(), Ridge);
        var unscaled = new TrojanLikelihoodModel(
            generated, TrojanLikelihoodFeatures.Names, means, scales, weights, intercept, 1, 0, [], [], design.Count(x => x.Label == 0), design.Count(x => x.Label == 1), 0, 0.05, null);

        double[] logits = calibration.Select(c => unscaled.Logit(c.Features)).ToArray();
        (double slope, double offset) = Platt(logits, calibration.Select(c => c.Label).ToArray());
        TrojanLikelihoodModel calibrated = unscaled with { PlattSlope = slope, PlattIntercept = offset, CalibrationBackdoored = calibration.Count(c => c.Label == 1) };
        double[] probabilities = calibration.Select(c => calibrated.Probability(c.Features)).ToArray();
        var bins = new List<LikelihoodBin>();
        for (int b = 0; b + 1 < Bins.Length; b++)
        {
            double lower = Bins[b], upper = Bins[b + 1];
            int[] members = Enumerable.Range(0, probabilities.Length)
                .Where(i => probabilities[i] >= lower && (probabilities[i] < upper || (upper >= 1 && probabilities[i] <= 1)))
                .ToArray();
            bins.Add(new LikelihoodBin(lower, upper, members.Count(i => calibration[i].Label == 1), members.Length));
        }

        return calibrated with
        {
            CalibrationCleanProbabilities = Enumerable.Range(0, probabilities.Length).Where(i => calibration[i].Label == 0).Select(i => Math.Round(probabilities[i], 6)).Order().ToArray(),
            CalibrationBins = bins,
        };
    }

    /// <summary>Rates at the default conformal threshold on held-out models.</summary>
    public static LikelihoodTestRates Measure(TrojanLikelihoodModel model, IReadOnlyList<(double[] Features, int Label, SurveyRecord Record)> held)
    {
        double threshold = model.ConformalThreshold(model.DefaultTargetFalseFailRate, out _);
        double[] p = held.Select(h => model.Probability(h.Features)).ToArray();
        int clean = held.Count(h => h.Label == 0), backdoored = held.Count(h => h.Label == 1);
        int falseFails = Enumerable.Range(0, held.Count).Count(i => held[i].Label == 0 && p[i] >= threshold);
        int[] detected = Enumerable.Range(0, held.Count).Where(i => held[i].Label == 1 && p[i] >= threshold).ToArray();
        int right = detected.Count(i => held[i].Record.Probes["neural-cleanse"].SuspectedClass == held[i].Record.Recipe.TargetClass);
        double auroc = SurveyReport.Auroc(Enumerable.Range(0, held.Count).Where(i => held[i].Label == 1).Select(i => p[i]).ToArray(), Enumerable.Range(0, held.Count).Where(i => held[i].Label == 0).Select(i => p[i]).ToArray());
        return new LikelihoodTestRates(
            clean,
            backdoored,
            falseFails,
            backdoored - detected.Length,
            clean == 0 ? 0 : Math.Round(falseFails / (double)clean, 4),
            backdoored == 0 ? 0 : Math.Round((backdoored - detected.Length) / (double)backdoored, 4),
            Math.Round(auroc, 4),
            detected.Length,
            right);
    }

    /// <summary>L2-penalised logistic regression by Newton's method (intercept unpenalised).</summary>
    public static (double[] Weights, double Intercept) Logistic(double[][] x, int[] y, double ridge, int iterations = 50)
    {
        int n = x.Length, d = x[0].Length;
        var beta = new double[d + 1]; // beta[d] is the intercept
        for (int iteration = 0; iteration < iterations; iteration++)
        {
            var gradient = new double[d + 1];
            var hessian = new double[d + 1, d + 1];
            for (int i = 0; i < n; i++)
            {
                double z = beta[d];
                for (int j = 0; j < d; j++)
                {
                    z += beta[j] * x[i][j];
                }

                double p = TrojanLikelihoodModel.Sigmoid(z), w = Math.Max(p * (1 - p), 1e-10);
                for (int j = 0; j <= d; j++)
                {
                    double xj = j < d ? x[i][j] : 1;
                    gradient[j] += (p - y[i]) * xj;
                    for (int k = 0; k <= d; k++)
                    {
                        hessian[j, k] += w * xj * (k < d ? x[i][k] : 1);
                    }
                }
            }

            for (int j = 0; j < d; j++)
            {
                gradient[j] += ridge * beta[j];
                hessian[j, j] += ridge;
            }

            double[] step = Solve(hessian, gradient);
            double size = 0;
            for (int j = 0; j <= d; j++)
            {
                beta[j] -= step[j];
                size = Math.Max(size, Math.Abs(step[j]));
            }

            if (size < 1e-10)
            {
                break;
            }
        }

        return (beta[..d], beta[d]);
    }

    /// <summary>
    /// Platt scaling (Platt, 1999): p = σ(a·z + b) fitted by Newton's method on the calibration logits, with Platt's
    /// smoothed targets (N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2), which keep a separable calibration set from an infinite slope.
    /// </summary>
    public static (double Slope, double Intercept) Platt(double[] logits, int[] labels)
    {
        int positives = labels.Count(l => l == 1), negatives = labels.Length - positives;
        double high = (positives + 1.0) / (positives + 2.0), low = 1.0 / (negatives + 2.0);
        double a = 1, b = 0;
        for (int iteration = 0; iteration < 100; iteration++)
        {
            double ga = 0, gb = 0, haa = 1e-9, hab = 0, hbb = 1e-9;
            for (int i = 0; i < logits.Length; i++)
            {
                double t = labels[i] == 1 ? high : low;
                double p = TrojanLikelihoodModel.Sigmoid(a * logits[i] + b), w = p * (1 - p);
                ga += (p - t) * logits[i];
                gb += p - t;
                haa += w * logits[i] * logits[i];
                hab += w * logits[i];
                hbb += w;
            }

            double det = haa * hbb - hab * hab;
            if (Math.Abs(det) < 1e-15)
            {
                break;
            }

            double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
            a -= da;
            b -= db;
            if (Math.Abs(da) + Math.Abs(db) < 1e-12)
            {
                break;
            }
        }

        return (a, b);
    }

    private static double[] Solve(double[,] matrix, double[] vector)
    {
        int n = vector.Length;
        var a = (double[,])matrix.Clone();
        var b = (double[])vector.Clone();
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int row = col + 1; row < n; row++)
            {
                if (Math.Abs(a[row, col]) > Math.Abs(a[pivot, col]))
                {
                    pivot = row;
                }
            }

            for (int k = 0; k < n; k++)
            {
                (a[col, k], a[pivot, k]) = (a[pivot, k], a[col, k]);
            }

            (b[col], b[pivot]) = (b[pivot], b[col]);
            for (int row = col + 1; row < n; row++)
            {
                double factor = a[row, col] / a[col, col];
                for (int k = col; k < n; k++)
                {
                    a[row, k] -= factor * a[col, k];
                }

                b[row] -= factor * b[col];
            }
        }

        var x = new double[n];
        for (int row = n - 1; row >= 0; row--)
        {
            double sum = b[row];
            for (int k = row + 1; k < n; k++)
            {
                sum -= a[row, k] * x[k];
            }

            x[row] = sum / a[row, row];
        }

        return x;
    }
}
