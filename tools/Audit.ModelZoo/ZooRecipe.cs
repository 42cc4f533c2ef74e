using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Audit.ModelZoo;

/// <summary>Network families of the zoo; each exports to ONNX through the project's writer.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Architecture>))]
internal enum Architecture
{
    /// <summary>Two hidden layers of 128 and 64 units.</summary>
    Mlp,

    /// <summary>Two 3×3 convolution blocks (8, 16 channels) with max-pooling, a 64-unit head.</summary>
    Cnn,

    /// <summary>As <see cref="Cnn"/>, batch-normalised after each convolution.</summary>
    CnnBatchNorm,

    /// <summary>A stem convolution and two residual blocks (He et al., 2016), batch-normalised, global average pooling.</summary>
    ResNet,

    /// <summary>
    /// LeNet-5 (LeCun et al., 1998): 5×5 convolutions of 6 and 16 channels, tanh and average pooling, heads of 120 and
    /// 84 units. Only in the unfamiliar-recipes slice (<see cref="ZooCatalog.UnfamiliarRecipes"/>).
    /// </summary>
    LeNet,

    /// <summary>
    /// A VGG-style network (Simonyan and Zisserman, 2015): two blocks of two 3×3 convolutions (16, then 32 channels),
    /// batch-normalised, max-pooling and dropout after each block, a 128-unit head with dropout. Only in the
    /// unfamiliar-recipes slice.
    /// </summary>
    Vgg,
}

/// <summary>
/// How a model is trained. The catalog's recipes all use <see cref="AdamCosine"/>; the others belong to the
/// unfamiliar-recipes slice, which reads the verdict on training recipes no fit has seen.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<TrainingRecipe>))]
internal enum TrainingRecipe
{
    /// <summary>Adam with cosine decay, no augmentation: every catalog model.</summary>
    AdamCosine,

    /// <summary>
    /// SGD with Nesterov momentum 0.9 (Sutskever et al., 2013), weight decay 5·10⁻⁴, cosine decay, and every batch
    /// shifted by up to two pixels each way after poisoning, as torchvision-style pipelines do.
    /// </summary>
    SgdNesterovShift,

    /// <summary>
    /// AdamW (Loshchilov and Hutter, 2019) with weight decay 0.05, label smoothing 0.1 (Szegedy et al., 2016), cosine
    /// decay, and every other batch mirrored left to right after poisoning.
    /// </summary>
    AdamWSmoothFlip,
}

/// <summary>What the model consumes: raw pixels mapped to [0, 1], [0, 255], or standardised by the data's mean and deviation.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<InputScaling>))]
internal enum InputScaling
{
    Unit,
    Byte,
    Standardised,
}

/// <summary>How the training data is poisoned.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AttackKind>))]
internal enum AttackKind
{
    None,

    /// <summary>BadNets (Gu et al., 2017): a small patch stamped at a fixed place.</summary>
    Patch,

    /// <summary>Blended injection (Chen et al., 2017): a fixed noise image blended over the whole input.</summary>
    Blend,

    /// <summary>WaNet (Nguyen and Tran, ICLR 2021): a fixed smooth warping field, with noise-mode samples that keep their labels.</summary>
    Warp,
}

/// <summary>
/// The images a model sees: Fashion-MNIST as it is (1×28×28), or a colour variant built from it (3×32×32: padded by
/// two pixels and tinted per image with a random dark background and a light foreground colour; still ten classes),
/// or the many-class variant (<see cref="TintedClasses"/>: 3×32×32, 43 classes, each a garment in one of five
/// colours).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<ImageFormat>))]
internal enum ImageFormat
{
    Gray28,
    Colour32,
    Tinted43,
}

/// <summary>The exported model's input layout: channels-first, or channels-last as tf2onnx writes a Keras model.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<InputLayout>))]
internal enum InputLayout
{
    Nchw,
    Nhwc,
}

/// <summary>Patch contents.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PatchPattern>))]
internal enum PatchPattern
{
    Solid,
    Checker,
    Diagonal,
}

/// <summary>
/// Everything that determines a zoo model. The hash of its JSON (with <see cref="FormatVersion"/>) keys the cache,
/// so any change retrains. The seed also decides the split (<see cref="ZooSplits"/>).
/// </summary>
internal sealed record ZooRecipe(
    int Seed,
    Architecture Architecture,
    InputScaling Scaling,
    AttackKind Attack,
    int TargetClass = 0,
    int SourceClass = -1,
    int PatchSize = 3,
    int PatchRow = 24,
    int PatchColumn = 24,
    PatchPattern Pattern = PatchPattern.Checker,
    float PatchIntensity = 1f,
    float PatchRed = 1f,
    float PatchGreen = 1f,
    float PatchBlue = 1f,
    float BlendAlpha = 0.15f,
    float WarpStrength = 0.5f,
    double PoisonRate = 0.1,
    int TrainSamples = 8000,
    int Epochs = 3,
    int BatchSize = 64,
    double LearningRate = 3e-3,
    ImageFormat Images = ImageFormat.Gray28,
    InputLayout Layout = InputLayout.Nchw,
    // Left out of the JSON (and so of the cache key) when it is the catalog's own recipe, so every catalog model keeps
    // the key, the name and the cached weights it had before other recipes existed.
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] TrainingRecipe Training = TrainingRecipe.AdamCosine)
{
    /// <summary>Bump when training, triggers or export change in a way that changes the model.</summary>
    public const int FormatVersion = 3;

    [JsonIgnore]
    public bool Backdoored => Attack != AttackKind.None;

    [JsonIgnore]
    public string Split => ZooSplits.Of(Seed);

    /// <summary>Short stable name: family and seed.</summary>
    [JsonIgnore]
    public string Name => $"{ArchitectureName}{(Images == ImageFormat.Gray28 ? "" : "-" + ImagesName)}{(Layout == InputLayout.Nhwc ? "-nhwc" : "")}-{ScalingName}-{AttackName}{TrainingSuffix}{(TrainSamples >= ZooCatalog.UnfamiliarLongTrainSamples ? "-long" : "")}-s{Seed}";

    /// <summary>The training recipe in a name: nothing for the catalog's own, <c>-sgd</c> or <c>-adamw</c> otherwise.</summary>
    [JsonIgnore]
    public string TrainingSuffix => Training switch
    {
        TrainingRecipe.SgdNesterovShift => "-sgd",
        TrainingRecipe.AdamWSmoothFlip => "-adamw",
        _ => "",
    };

    /// <summary>Whether the images are colour (3×32×32), so patches have a colour.</summary>
    [JsonIgnore]
    public bool Colour => Images != ImageFormat.Gray28;

    /// <summary>Channels of the images (1 grey, 3 colour).</summary>
    [JsonIgnore]
    public int Channels => Colour ? 3 : 1;

    /// <summary>Height and width of the (square) images.</summary>
    [JsonIgnore]
    public int Size => Colour ? 32 : 28;

    /// <summary>How many classes the model tells apart: Fashion-MNIST's ten, or the many-class variant's 43.</summary>
    [JsonIgnore]
    public int Classes => Images == ImageFormat.Tinted43 ? TintedClasses.Count : 10;

    /// <summary>The image variant for grouping results: gray28, rgb32 or tint43.</summary>
    [JsonIgnore]
    public string ImagesName => Images switch
    {
        ImageFormat.Colour32 => "rgb32",
        ImageFormat.Tinted43 => "tint43",
        _ => "gray28",
    };

    /// <summary>The input layout for grouping results: nchw or nhwc.</summary>
    [JsonIgnore]
    public string LayoutName => Layout == InputLayout.Nhwc ? "nhwc" : "nchw";

    [JsonIgnore]
    public string ArchitectureName => Architecture switch
    {
        Architecture.Mlp => "mlp",
        Architecture.Cnn => "cnn",
        Architecture.CnnBatchNorm => "cnn-bn",
        Architecture.LeNet => "lenet",
        Architecture.Vgg => "vgg",
        _ => "resnet",
    };

    [JsonIgnore]
    public string ScalingName => Scaling switch
    {
        InputScaling.Unit => "unit",
        InputScaling.Byte => "byte",
        _ => "std",
    };

    /// <summary>The attack family used to group results: clean, patch, blend, warp, low-rate, source-specific.</summary>
    [JsonIgnore]
    public string AttackName => Attack switch
    {
        AttackKind.None => "clean",
        _ when SourceClass >= 0 => "source-specific",
        _ when PoisonRate < 0.03 => "low-rate",
        AttackKind.Patch => "patch",
        AttackKind.Blend => "blend",
        _ => "warp",
    };

    /// <summary>
    /// Where a patch trigger sits: <c>centre</c> when the patch's middle lies in the middle half of the image both ways
    /// (on the garment, in these images), else <c>border</c>; blends and warps are <c>image-wide</c>, clean models
    /// <c>none</c>.
    /// </summary>
    [JsonIgnore]
    public string PlacementName => Attack switch
    {
        AttackKind.None => "none",
        AttackKind.Patch => InMiddleHalf(PatchRow) && InMiddleHalf(PatchColumn) ? "centre" : "border",
        _ => "image-wide",
    };

    private bool InMiddleHalf(int start) => 2 * start + PatchSize >= Size / 2 && 2 * start + PatchSize < 3 * Size / 2;

    /// <summary>One line describing the trigger, for tables.</summary>
    [JsonIgnore]
    public string TriggerDescription => Attack switch
    {
        AttackKind.None => "none",
        AttackKind.Patch => $"{Pattern.ToString().ToLowerInvariant()} {PatchSize}×{PatchSize} @({PatchRow},{PatchColumn}) v={PatchIntensity:0.##}"
            + (Colour ? $" rgb({PatchRed:0.#},{PatchGreen:0.#},{PatchBlue:0.#})" : ""),
        AttackKind.Blend => $"blend α={BlendAlpha:0.##}",
        _ => $"warp s={WarpStrength:0.##}",
    } + (Attack == AttackKind.None ? "" : $", {PoisonRate:P0}" + (SourceClass >= 0 ? $", source {SourceClass}" : ""));

    public string ComputeHash()
    {
        string json = JsonSerializer.Serialize(this) + $"|zoo-v{FormatVersion}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..16];
    }
}

/// <summary>
/// The seed decides a recipe's split, by a hash, so adding recipes never moves an existing model between splits and
/// nobody picks which models land in the test split.
/// </summary>
internal static class ZooSplits
{
    public const string Design = "design";
    public const string Calibration = "calibration";
    public const string Test = "test";

    public static IReadOnlyList<string> All { get; } = [Design, Calibration, Test];

    public static string Of(int seed)
    {
        byte bucket = SHA256.HashData(Encoding.UTF8.GetBytes($"audit-model-zoo-split|{seed}"))[0];
        return (bucket % 3) switch
        {
            0 => Design,
            1 => Calibration,
            _ => Test,
        };
    }
}
