using Audit.Evaluators.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Fixtures;

/// <summary>The small Fashion-MNIST CNN the trojan fixtures train: two conv blocks (batch-normalised, which converges in few epochs) and a two-layer head.</summary>
internal static class FixtureCnn
{
    /// <summary>Name of the penultimate activation (input of the last Linear) in the exported graph.</summary>
    public const string Penultimate = "relu3";

    public static Sequential Create() => nn.Sequential(
        ("conv1", nn.Conv2d(1, 8, 3, padding: 1)),
        ("bn1", HeldScalars.BatchNorm2d(8)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(8, 16, 3, padding: 1)),
        ("bn2", HeldScalars.BatchNorm2d(16)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(16 * 7 * 7, 64)),
        ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(64, 10)));
}
