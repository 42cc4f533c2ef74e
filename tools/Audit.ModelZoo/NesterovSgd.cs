using Audit.Evaluators.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.ModelZoo;

/// <summary>
/// Stochastic gradient descent with Nesterov momentum (Sutskever, Martens, Dahl and Hinton, ICML 2013) and L2 weight
/// decay, in PyTorch's form: g = ∇ + λ·w, b = μ·b + g, w -= η·(g + μ·b). Written here rather than taken from
/// TorchSharp because its optimiser passes numbers as scalars that libtorch may read after they are freed
/// (<see cref="HeldScalars"/>); every number here goes through those helpers.
/// </summary>
internal sealed class NesterovSgd(IEnumerable<Parameter> parameters, double momentum, double weightDecay) : IDisposable
{
    private readonly List<Parameter> _parameters = [.. parameters];
    private readonly Dictionary<Parameter, Tensor> _momentum = [];

    /// <summary>η, set by the schedule before each step.</summary>
    public double LearningRate { get; set; }

    public void ZeroGrad()
    {
        foreach (Parameter parameter in _parameters)
        {
            parameter.grad?.zero_();
        }
    }

    public void Step()
    {
        using var noGrad = torch.no_grad();
        foreach (Parameter parameter in _parameters)
        {
            if (parameter.grad is not Tensor grad)
            {
                continue;
            }

            using var scope = torch.NewDisposeScope();
            Tensor gradient = grad.Add(parameter.Mul(weightDecay));
            if (_momentum.TryGetValue(parameter, out Tensor? buffer))
            {
                buffer.MulInPlace(momentum).AddInPlace(gradient);
            }
            else
            {
                // PyTorch starts the buffer at the first gradient.
                buffer = gradient.clone().DetachFromDisposeScope();
                _momentum[parameter] = buffer;
            }

            parameter.AddInPlace(gradient.Add(buffer.Mul(momentum)).Mul(-LearningRate));
        }
    }

    public void Dispose()
    {
        foreach (Tensor buffer in _momentum.Values)
        {
            buffer.Dispose();
        }

        _momentum.Clear();
    }
}
