using Audit.Evaluators.Runtime;
using Audit.Testing.Onnx;
using Google.Protobuf;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.ModelZoo;

/// <summary>The zoo's networks and their ONNX export.</summary>
internal static class ZooNetworks
{
    /// <summary>The network for a recipe's images (channels and size).</summary>
    public static nn.Module<Tensor, Tensor> Create(ZooRecipe recipe) => Create(recipe.Architecture, recipe.Channels, recipe.Size, recipe.Classes);

    public static nn.Module<Tensor, Tensor> Create(Architecture architecture, int channels = 1, int size = 28, int classes = 10) => architecture switch
    {
        Architecture.Mlp => nn.Sequential(
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(channels * size * size, 128)),
            ("relu1", nn.ReLU()),
            ("fc2", nn.Linear(128, 64)),
            ("relu2", nn.ReLU()),
            ("fc3", nn.Linear(64, classes))),
        Architecture.Cnn => nn.Sequential(
            ("conv1", nn.Conv2d(channels, 8, 3, padding: 1)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(8, 16, 3, padding: 1)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(16 * (size / 4) * (size / 4), 64)),
            ("relu3", nn.ReLU()),
            ("fc2", nn.Linear(64, classes))),
        Architecture.CnnBatchNorm => nn.Sequential(
            ("conv1", nn.Conv2d(channels, 8, 3, padding: 1)),
            ("bn1", HeldScalars.BatchNorm2d(8)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(8, 16, 3, padding: 1)),
            ("bn2", HeldScalars.BatchNorm2d(16)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(16 * (size / 4) * (size / 4), 64)),
            ("relu3", nn.ReLU()),
            ("fc2", nn.Linear(64, classes))),
        Architecture.LeNet => nn.Sequential(
            ("conv1", nn.Conv2d(channels, 6, 5, padding: 2)),
            ("tanh1", nn.Tanh()),
            ("pool1", nn.AvgPool2d(2)),
            ("conv2", nn.Conv2d(6, 16, 5)),
            ("tanh2", nn.Tanh()),
            ("pool2", nn.AvgPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(16 * ((size / 2 - 4) / 2) * ((size / 2 - 4) / 2), 120)),
            ("tanh3", nn.Tanh()),
            ("fc2", nn.Linear(120, 84)),
            ("tanh4", nn.Tanh()),
            ("fc3", nn.Linear(84, classes))),
        Architecture.Vgg => nn.Sequential(
            ("conv1", nn.Conv2d(channels, 16, 3, padding: 1)),
            ("bn1", HeldScalars.BatchNorm2d(16)),
            ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(16, 16, 3, padding: 1)),
            ("bn2", HeldScalars.BatchNorm2d(16)),
            ("relu2", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("drop1", nn.Dropout(0.25)),
            ("conv3", nn.Conv2d(16, 32, 3, padding: 1)),
            ("bn3", HeldScalars.BatchNorm2d(32)),
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(32, 32, 3, padding: 1)),
            ("bn4", HeldScalars.BatchNorm2d(32)),
            ("relu4", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("drop2", nn.Dropout(0.25)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(32 * (size / 4) * (size / 4), 128)),
            ("relu5", nn.ReLU()),
            ("drop3", nn.Dropout(0.5)),
            ("fc2", nn.Linear(128, classes))),
        _ => new SmallResNet(channels, size, classes),
    };

    /// <summary>
    /// Writes the trained (eval-mode) network as ONNX with input <c>[N, C, H, W]</c>, or for a channels-last recipe
    /// <c>[N, H, W, C]</c> read by a leading Transpose, the form tf2onnx writes for a Keras model.
    /// </summary>
    public static void Save(nn.Module<Tensor, Tensor> network, ZooRecipe recipe, string path)
    {
        Onnx.ModelProto model = network switch
        {
            Sequential sequential => SequentialOnnxExporter.Export(sequential, [recipe.Channels, recipe.Size, recipe.Size]),
            SmallResNet resnet => resnet.Export(),
            _ => throw new NotSupportedException($"No ONNX export for {network.GetType().Name}."),
        };
        if (recipe.Layout == InputLayout.Nhwc)
        {
            model = ChannelsLastExport.FromChannelsFirst(model);
        }

        File.WriteAllBytes(path, model.ToByteArray());
    }
}

/// <summary>
/// A small residual network (He et al., 2016): a stem convolution, max-pooling, a residual block of 8 channels,
/// max-pooling, a residual block of 16 channels with a 1×1 projection shortcut, global average pooling and a linear
/// head (pooling early keeps training and the trigger scan within seconds on one core). Exported with batch normalisation folded into the convolutions (inference form).
/// </summary>
internal sealed class SmallResNet : nn.Module<Tensor, Tensor>
{
    private readonly int _channels;
    private readonly int _size;
    private readonly int _classes;
    private readonly Conv2d stem;
    private readonly BatchNorm2d stemNorm = HeldScalars.BatchNorm2d(8);
    private readonly Conv2d block1a = nn.Conv2d(8, 8, 3, padding: 1, bias: false);
    private readonly BatchNorm2d block1aNorm = HeldScalars.BatchNorm2d(8);
    private readonly Conv2d block1b = nn.Conv2d(8, 8, 3, padding: 1, bias: false);
    private readonly BatchNorm2d block1bNorm = HeldScalars.BatchNorm2d(8);
    private readonly Conv2d block2a = nn.Conv2d(8, 16, 3, padding: 1, bias: false);
    private readonly BatchNorm2d block2aNorm = HeldScalars.BatchNorm2d(16);
    private readonly Conv2d block2b = nn.Conv2d(16, 16, 3, padding: 1, bias: false);
    private readonly BatchNorm2d block2bNorm = HeldScalars.BatchNorm2d(16);
    private readonly Conv2d shortcut = nn.Conv2d(8, 16, 1, bias: false);
    private readonly BatchNorm2d shortcutNorm = HeldScalars.BatchNorm2d(16);
    private readonly Linear head = nn.Linear(16, 10);

    public SmallResNet(int channels = 1, int size = 28, int classes = 10)
        : base(nameof(SmallResNet))
    {
        _channels = channels;
        _size = size;
        _classes = classes;

        // The ten-class head stays a field initialiser, drawn before the stem, so the ten-class zoo's cached models
        // keep the weights their seeds gave them; a head for another class count is drawn here instead.
        if (classes != 10)
        {
            head.Dispose();
            head = nn.Linear(16, classes);
        }

        stem = nn.Conv2d(channels, 8, 3, padding: 1, bias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        Tensor x = nn.functional.max_pool2d(nn.functional.relu(stemNorm.forward(stem.forward(input))), 2);
        Tensor y = nn.functional.relu(block1aNorm.forward(block1a.forward(x)));
        x = nn.functional.relu(x.Add(block1bNorm.forward(block1b.forward(y))));
        x = nn.functional.max_pool2d(x, 2);
        y = nn.functional.relu(block2aNorm.forward(block2a.forward(x)));
        x = nn.functional.relu(shortcutNorm.forward(shortcut.forward(x)).Add(block2bNorm.forward(block2b.forward(y))));
        x = x.mean([2, 3]);
        return head.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>The graph in ONNX: Conv (BN folded), Relu, Add, MaxPool, GlobalAveragePool, Flatten, Gemm.</summary>
    public Onnx.ModelProto Export()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var builder = new OnnxGraphBuilder("small-resnet");
        string input = builder.AddInput("input", ScalarType.Float32, OnnxDim.FromString("N"), _channels, _size, _size);
        string x = MaxPool(builder, Relu(builder, Conv(builder, "stem", input, stem, stemNorm)));
        string y = Relu(builder, Conv(builder, "block1a", x, block1a, block1aNorm));
        x = Relu(builder, builder.AddNode("Add", [x, Conv(builder, "block1b", y, block1b, block1bNorm)]));
        x = MaxPool(builder, x);
        y = Relu(builder, Conv(builder, "block2a", x, block2a, block2aNorm));
        x = Relu(builder, builder.AddNode("Add", [Conv(builder, "shortcut", x, shortcut, shortcutNorm), Conv(builder, "block2b", y, block2b, block2bNorm)]));
        x = builder.AddNode("Flatten", [builder.AddNode("GlobalAveragePool", [x])], OnnxAttributes.Int("axis", 1));
        string logits = builder.AddNode(
            "Gemm", [x, builder.AddInitializer("head.weight", head.weight!), builder.AddInitializer("head.bias", head.bias!)], OnnxAttributes.Int("transB", 1));
        builder.AddNode("Identity", [logits], ["logits"], "");
        builder.AddOutput("logits", ScalarType.Float32, OnnxDim.FromString("N"), _classes);
        return builder.Build();
    }

    private static string Conv(OnnxGraphBuilder builder, string name, string input, Conv2d conv, BatchNorm2d norm)
    {
        // Inference-form batch norm is a per-channel affine map: fold it into the convolution's weight and bias.
        Tensor scale = norm.weight! / norm.running_var!.Add(norm.eps).sqrt();
        Tensor weight = conv.weight! * scale.reshape(-1, 1, 1, 1);
        Tensor bias = norm.bias! - norm.running_mean! * scale;
        long k = conv.weight!.shape[2];
        long pad = k / 2;
        return builder.AddNode(
            "Conv",
            [input, builder.AddInitializer($"{name}.weight", weight), builder.AddInitializer($"{name}.bias", bias)],
            OnnxAttributes.Ints("kernel_shape", k, k),
            OnnxAttributes.Ints("strides", 1, 1),
            OnnxAttributes.Ints("pads", pad, pad, pad, pad));
    }

    private static string Relu(OnnxGraphBuilder builder, string input) => builder.AddNode("Relu", [input]);

    private static string MaxPool(OnnxGraphBuilder builder, string input) =>
        builder.AddNode("MaxPool", [input], OnnxAttributes.Ints("kernel_shape", 2, 2), OnnxAttributes.Ints("strides", 2, 2));
}
