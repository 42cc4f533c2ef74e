using System.Text.Json;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Learned litmus patterns and the logistic read-out over a model's answers to them (the <c>litmus</c> probe), written
/// by <c>tools/Audit.ModelZoo litmus</c> from the model zoo's shadow split and embedded as data. After Kolouri, Saha,
/// Pirsiavash and Hoffmann, "Universal Litmus Patterns: Revealing Backdoor Attacks in CNNs", CVPR 2020, and the query
/// tuning of Xu et al., "Detecting AI Trojans Using Meta Neural Analysis", IEEE S&amp;P 2021.
/// </summary>
/// <param name="Generated">When and by what the file was written.</param>
/// <param name="Patterns">How many patterns.</param>
/// <param name="Channels">Channels of a canonical pattern (3: colour).</param>
/// <param name="Size">Height and width of a canonical pattern; it is resized to the audited model's input.</param>
/// <param name="PatternBytes">The patterns, [Patterns, Channels, Size, Size] in [0, 1] as bytes (value / 255), base64.</param>
/// <param name="FeatureMeans">Standardisation of the features: their means on the shadow models.</param>
/// <param name="FeatureScales">Their standard deviations.</param>
/// <param name="Weights">Logistic read-out coefficients on the standardised features.</param>
/// <param name="Intercept">Its intercept.</param>
/// <param name="ShadowClean">Clean shadow models the patterns were learnt on.</param>
/// <param name="ShadowBackdoored">Backdoored shadow models (implant working) they were learnt on.</param>
/// <param name="ShadowHoldOutAuroc">AUROC on the fifth of the shadow models a first training left out (a sanity check, not a held-out error rate).</param>
/// <param name="Training">Optimiser settings, for the record.</param>
public sealed record LitmusModel(
    string Generated,
    int Patterns,
    int Channels,
    int Size,
    string PatternBytes,
    double[] FeatureMeans,
    double[] FeatureScales,
    double[] Weights,
    double Intercept,
    int ShadowClean,
    int ShadowBackdoored,
    double ShadowHoldOutAuroc,
    string Training)
{
    /// <summary>Sorted log-probabilities kept per pattern (the rest of a pattern's answer is dropped).</summary>
    public const int TopPerPattern = 3;

    private const string ResourceName = "Audit.Evaluators.Probes.Trojans.LitmusModel.json";

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Features per model: per pattern its top sorted log-probabilities, then the patterns' agreement.</summary>
    public static int FeatureCount(int patterns) => (patterns * TopPerPattern) + 1;

    /// <summary>The model file's text, exactly as the tool writes it.</summary>
    public string FileText() => JsonSerializer.Serialize(this, JsonOptions) + "\n";

    /// <summary>SHA-256 of <see cref="FileText"/>: which patterns gave a finding.</summary>
    public string Fingerprint() =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(FileText())));

    public static LitmusModel Parse(string json) =>
        JsonSerializer.Deserialize<LitmusModel>(json, JsonOptions) ?? throw new InvalidDataException("Empty litmus model.");

    /// <summary>The patterns embedded in this assembly, or null when none have been learnt.</summary>
    public static LitmusModel? Embedded()
    {
        using Stream? stream = typeof(LitmusModel).Assembly.GetManifestResourceStream(ResourceName);
        return stream is null ? null : JsonSerializer.Deserialize<LitmusModel>(stream, JsonOptions);
    }

    /// <summary>The canonical patterns [Patterns, Channels, Size, Size] in [0, 1].</summary>
    public Tensor CanonicalPatterns()
    {
        byte[] bytes = Convert.FromBase64String(PatternBytes);
        if (bytes.Length != Patterns * Channels * Size * Size)
        {
            throw new InvalidDataException("The litmus patterns' size does not match their shape.");
        }

        return torch.tensor(bytes.Select(b => b / 255f).ToArray(), [Patterns, Channels, Size, Size]);
    }

    /// <summary>Bytes of canonical patterns in [0, 1] (rounded to 1/255).</summary>
    public static string Encode(Tensor patterns)
    {
        float[] values = patterns.detach().cpu().contiguous().data<float>().ToArray();
        return Convert.ToBase64String(values.Select(v => (byte)Math.Clamp(Math.Round(v * 255), 0, 255)).ToArray());
    }

    /// <summary>
    /// Canonical [0, 1] colour patterns as inputs of a model taking [N, <paramref name="channels"/>, H, W] in
    /// [<paramref name="low"/>, <paramref name="high"/>]: resized (bilinear), averaged to grey for one channel (and
    /// repeated for other channel counts), then mapped linearly onto the input range the audit's clean inputs span.
    /// </summary>
    public static Tensor ForInput(Tensor canonical, long channels, long height, long width, float low, float high)
    {
        Tensor resized = canonical.shape[2] == height && canonical.shape[3] == width
            ? canonical
            : nn.functional.interpolate(canonical, [height, width], mode: InterpolationMode.Bilinear, align_corners: false);
        Tensor shaped = channels == resized.shape[1]
            ? resized
            : resized.mean([1L], keepdim: true).expand(-1, channels, -1, -1);
        return low + ((high - low) * shaped);
    }

    /// <summary>
    /// The features of a model's class scores on the patterns ([Patterns, C], C ≥ <see cref="TopPerPattern"/>): per
    /// pattern its <see cref="TopPerPattern"/> largest log-probabilities in decreasing order, then the log of the largest
    /// mean probability any one class gets over the patterns (whether they all point at one class). Invariant to which
    /// class is which, so the read-out learns how a backdoored model answers, not which class the shadow models' targets
    /// were. Differentiable (the tool trains the patterns through it).
    /// </summary>
    public static Tensor Features(Tensor scores)
    {
        Tensor logProbabilities = scores.log_softmax(1);
        Tensor top = logProbabilities.sort(1, descending: true).Values[.., ..TopPerPattern].flatten();
        Tensor agreement = logProbabilities.exp().mean([0L]).max().log().reshape(1);
        return torch.cat([top, agreement], 0);
    }

    /// <summary>The class the patterns agree on most (largest mean probability).</summary>
    public static int AgreedClass(Tensor scores) => (int)scores.softmax(1).mean([0L]).argmax().item<long>();

    /// <summary>The read-out's logit for a feature vector.</summary>
    public double Logit(double[] features)
    {
        if (features.Length != Weights.Length)
        {
            throw new InvalidDataException($"The litmus read-out takes {Weights.Length} features, not {features.Length}.");
        }

        double logit = Intercept;
        for (int i = 0; i < features.Length; i++)
        {
            logit += Weights[i] * (features[i] - FeatureMeans[i]) / FeatureScales[i];
        }

        return logit;
    }
}
