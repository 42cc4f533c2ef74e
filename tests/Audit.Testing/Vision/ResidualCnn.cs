using Audit.Evaluators.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Testing.Vision;

/// <summary>
/// A small ResNet-style image classifier (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016):
/// a stem (strided 3×3 convolution, batch norm, ReLU, 3×3 max pooling with stride 2, as ResNet's stem), then one basic
/// residual block per stage (two 3×3 convolutions, each followed by batch
/// normalisation, plus a shortcut that is the identity or, where the stage halves the resolution, a strided 1×1
/// convolution with its own batch normalisation), global average pooling and a linear head.
/// </summary>
/// <remarks>
/// Stands for the CNNs other tools export for traffic-sign and CIFAR-style tasks: batch normalisation stays a separate
/// layer after every convolution (<see cref="Onnx.ResidualCnnOnnxExporter"/> writes it as unfused
/// BatchNormalization nodes), and the residual additions make the graph a DAG rather than a chain. The stem halves the
/// input by four, as ResNet's does, so the fixture trains in seconds on two cores.
/// </remarks>
public sealed class ResidualCnn : nn.Module<Tensor, Tensor>
{
    // Fields, not auto-properties: RegisterComponents names the parameters after the fields (stemConv.weight, ...).
    private readonly Conv2d stemConv;
    private readonly BatchNorm2d stemNorm;
    private readonly ModuleList<ResidualBlock> stages;
    private readonly Linear head;

    /// <summary>Creates the network with freshly initialised weights (seed libtorch first for reproducibility).</summary>
    /// <param name="channels">Input channels.</param>
    /// <param name="classes">Number of classes.</param>
    /// <param name="widths">Channels of each stage; every stage after the first halves the resolution.</param>
    public ResidualCnn(int channels, int classes, IReadOnlyList<int> widths)
        : base("residual_cnn")
    {
        ArgumentNullException.ThrowIfNull(widths);
        if (channels < 1 || classes < 2 || widths.Count == 0 || widths.Any(w => w < 1))
        {
            throw new ArgumentException("Channels, classes (at least 2) and stage widths must be positive.");
        }

        Classes = classes;
        stemConv = nn.Conv2d(channels, widths[0], 3, stride: 2, padding: 1, bias: false);
        stemNorm = HeldScalars.BatchNorm2d(widths[0]);
        stages = new ModuleList<ResidualBlock>(widths.Select((w, i) => new ResidualBlock(i == 0 ? widths[0] : widths[i - 1], w, i == 0 ? 1 : 2)).ToArray());
        head = nn.Linear(widths[^1], classes);
        RegisterComponents();
    }

    /// <summary>Number of classes (the head's outputs).</summary>
    public int Classes { get; }

    /// <summary>The stem's strided 3×3 convolution (no bias: the batch norm after it shifts).</summary>
    public Conv2d StemConv => stemConv;

    /// <summary>The stem's batch normalisation.</summary>
    public BatchNorm2d StemNorm => stemNorm;

    /// <summary>One basic residual block per stage.</summary>
    public ModuleList<ResidualBlock> Stages => stages;

    /// <summary>The linear classifier on the pooled features.</summary>
    public Linear Head => head;

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        Tensor x = nn.functional.max_pool2d(nn.functional.relu(stemNorm.forward(stemConv.forward(input))), 3, 2, 1);
        foreach (ResidualBlock block in stages)
        {
            x = block.forward(x);
        }

        Tensor pooled = x.mean([2L, 3L]);
        return head.forward(pooled).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A basic residual block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), where the shortcut is the identity,
/// or a strided 1×1 convolution and batch norm when the block changes width or resolution.
/// </summary>
public sealed class ResidualBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d norm1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d norm2;
    private readonly Conv2d? shortcutConv;
    private readonly BatchNorm2d? shortcutNorm;

    /// <summary>Creates the block.</summary>
    public ResidualBlock(int input, int output, int stride)
        : base("residual_block")
    {
        Stride = stride;
        conv1 = nn.Conv2d(input, output, 3, stride: stride, padding: 1, bias: false);
        norm1 = HeldScalars.BatchNorm2d(output);
        conv2 = nn.Conv2d(output, output, 3, padding: 1, bias: false);
        norm2 = HeldScalars.BatchNorm2d(output);
        if (stride != 1 || input != output)
        {
            shortcutConv = nn.Conv2d(input, output, 1, stride: stride, bias: false);
            shortcutNorm = HeldScalars.BatchNorm2d(output);
        }

        RegisterComponents();
    }

    /// <summary>Stride of the first convolution and of the projection shortcut.</summary>
    public int Stride { get; }

    /// <summary>First 3×3 convolution.</summary>
    public Conv2d Conv1 => conv1;

    /// <summary>Batch norm after the first convolution.</summary>
    public BatchNorm2d Norm1 => norm1;

    /// <summary>Second 3×3 convolution.</summary>
    public Conv2d Conv2 => conv2;

    /// <summary>Batch norm after the second convolution.</summary>
    public BatchNorm2d Norm2 => norm2;

    /// <summary>Projection shortcut's 1×1 convolution, or null for the identity.</summary>
    public Conv2d? ShortcutConv => shortcutConv;

    /// <summary>Projection shortcut's batch norm, or null for the identity.</summary>
    public BatchNorm2d? ShortcutNorm => shortcutNorm;

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        Tensor branch = norm2.forward(conv2.forward(nn.functional.relu(norm1.forward(conv1.forward(input)))));
        Tensor shortcut = shortcutConv is null ? input : shortcutNorm!.forward(shortcutConv.forward(input));
        return nn.functional.relu(branch.Add(shortcut)).MoveToOuterDisposeScope();
    }
}
