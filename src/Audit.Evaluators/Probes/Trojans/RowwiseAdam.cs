using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// One Adam step (Kingma and Ba, 2015; β = 0.5, 0.9 as in the Neural Cleanse code) for some rows of a stacked
/// parameter: every row is one trigger being reverse-engineered, with its own moments and its own step count for the
/// bias correction; the rows not selected, and their moments, are left untouched. Shared by the all-to-one scan
/// (<see cref="TriggerSearch"/>) and the (source, target) pair search (<see cref="PairTriggerSearch"/>).
/// </summary>
internal static class RowwiseAdam
{
    private const double Beta1 = 0.5, Beta2 = 0.9, Epsilon = 1e-8;

    /// <param name="parameter">All rows' parameters; the selected rows are overwritten.</param>
    /// <param name="first">All rows' first moments.</param>
    /// <param name="second">All rows' second moments.</param>
    /// <param name="index">The selected rows.</param>
    /// <param name="leaf">The selected rows' parameters as the leaf the loss was differentiated against.</param>
    /// <param name="stepCount">Each selected row's step count, this step included.</param>
    /// <param name="learningRate">Adam's learning rate.</param>
    public static void Step(Tensor parameter, Tensor first, Tensor second, Tensor index, Tensor leaf, Tensor stepCount, double learningRate)
    {
        Tensor gradient = leaf.grad ?? throw new InvalidOperationException("No gradient reached the trigger parameters.");
        long[] broadcast = [-1, .. Enumerable.Repeat(1L, (int)leaf.dim() - 1)];
        Tensor m = first.index_select(0, index).Mul(Beta1).Add(gradient.Mul(1 - Beta1));
        Tensor v = second.index_select(0, index).Mul(Beta2).Add(gradient.Square().Mul(1 - Beta2));
        Tensor correction1 = torch.pow(Beta1, stepCount).SubtractedFrom(1).reshape(broadcast);
        Tensor correction2 = torch.pow(Beta2, stepCount).SubtractedFrom(1).reshape(broadcast);
        Tensor updated = leaf.detach() - (m / correction1).Mul(learningRate) / (v / correction2).sqrt().Add(Epsilon);
        first.index_copy_(0, index, m);
        second.index_copy_(0, index, v);
        parameter.index_copy_(0, index, updated);
    }
}
