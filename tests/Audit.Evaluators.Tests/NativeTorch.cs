namespace Audit.Evaluators.Tests;

/// <summary>libtorch keeps process-wide state (seeds, thread pools): its tests run one at a time.</summary>
[CollectionDefinition(Collection, DisableParallelization = true)]
public sealed class NativeTorch
{
    public const string Collection = "Native TorchSharp";
}
