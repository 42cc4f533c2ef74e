using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Fixtures;

internal enum TriggerKind
{
    None,

    /// <summary>BadNets (Gu et al., 2017): a small patch (checkerboard, or bright diagonal) stamped at a fixed place.</summary>
    Patch,

    /// <summary>Blended injection (Chen et al., 2017): a fixed noise image blended over the whole input.</summary>
    Blend,
}

/// <summary>
/// Everything that determines a fixture model. Its hash keys the on-disk cache, so changing any field
/// (or <see cref="FormatVersion"/>, when the training code changes) retrains.
/// </summary>
internal sealed record FixtureRecipe(
    string Name,
    int Seed,
    TriggerKind Trigger,
    int TargetClass = 0,
    int PatchSize = 4,
    int PatchRow = 23,
    int PatchColumn = 23,
    double PoisonRate = 0.05,
    float BlendAlpha = 0.2f,
    bool Normalised = false,
    int TrainSamples = 20000,
    int Epochs = 3,
    int BatchSize = 128,
    double LearningRate = 4e-3,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool DiagonalPattern = false)
{
    /// <summary>Bump when training or export code changes in a way that changes the model.</summary>
    public const int FormatVersion = 2;

    /// <summary>Fashion-MNIST mean and deviation, for fixtures trained on normalised inputs.</summary>
    public const float Mean = 0.2860f;

    public const float Deviation = 0.3530f;

    public string ComputeHash()
    {
        string json = JsonSerializer.Serialize(this) + $"|v{FormatVersion}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..16];
    }

    /// <summary>Stamps the trigger on raw [0, 1] images <c>[N, 1, 28, 28]</c>.</summary>
    public Tensor Stamp(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        (Tensor mask, Tensor pattern) = TriggerTensors(images.device);
        return mask.SubtractedFrom(1).mul(images).Add(mask.mul(pattern)).MoveToOuterDisposeScope();
    }

    /// <summary>The trigger as mask and pattern <c>[1, 28, 28]</c>; mask is 0 where the image is kept.</summary>
    public (Tensor Mask, Tensor Pattern) TriggerTensors(Device device)
    {
        switch (Trigger)
        {
            case TriggerKind.Patch:
            {
                var mask = torch.zeros(1, 28, 28, device: device);
                var pattern = torch.zeros(1, 28, 28, device: device);
                for (int r = 0; r < PatchSize; r++)
                {
                    for (int c = 0; c < PatchSize; c++)
                    {
                        mask[0, PatchRow + r, PatchColumn + c] = 1f;
                        bool bright = DiagonalPattern ? r == c : (r + c) % 2 == 0;
                        pattern[0, PatchRow + r, PatchColumn + c] = bright ? 1f : 0f;
                    }
                }

                return (mask, pattern);
            }

            case TriggerKind.Blend:
            {
                using var generator = new torch.Generator((ulong)(Seed * 7919 + 17));
                var pattern = torch.rand(new long[] { 1, 28, 28 }, generator: generator).to(device);
                return (HeldScalars.Full([1, 28, 28], BlendAlpha, device: device), pattern);
            }

            default:
                return (torch.zeros(1, 28, 28, device: device), torch.zeros(1, 28, 28, device: device));
        }
    }

    /// <summary>Maps raw [0, 1] pixels to what the model consumes.</summary>
    public Tensor Preprocess(Tensor raw) => Normalised ? raw.Sub(Mean).Div(Deviation) : raw.alias();
}
