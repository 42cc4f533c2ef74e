using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Runtime;

/// <summary>
/// Adam (Kingma &amp; Ba, "Adam: A Method for Stochastic Optimization", 2015) as TorchSharp 0.107 implements it, step
/// for step, with every scalar held through its libtorch call (<see cref="HeldScalars"/> says why): TorchSharp's own
/// <c>Adam.step</c> makes five temporary scalars per parameter per step, so every training loop met the race.
/// The arithmetic is TorchSharp's, in its order, so a model trains to the same weights bit for bit.
/// </summary>
public sealed class HeldScalarAdam : Adam
{
    /// <summary>Adam over <paramref name="parameters"/> with TorchSharp's defaults for the betas and ε.</summary>
    public HeldScalarAdam(IEnumerable<Parameter> parameters, double learningRate)
        : base(parameters, learningRate)
    {
    }

    /// <inheritdoc />
    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var options = (Options)group.Options;
        double beta1 = options.beta1!.Value;
        double beta2 = options.beta2!.Value;
        double weightDecay = options.weight_decay!.Value;
        bool amsgrad = options.amsgrad!.Value;
        bool maximize = options.maximize!.Value;
        double eps = options.eps!.Value;
        double learningRate = options.LearningRate!.Value;

        foreach (Parameter parameter in group.Parameters)
        {
            var state = (State)_state[parameter.Handle];
            Tensor? grad = parameter.grad;
            if (grad is null)
            {
                continue;
            }

            if (maximize)
            {
                grad = -grad;
            }

            state.step += 1;
            double biasCorrection1 = 1 - Math.Pow(beta1, state.step);
            double biasCorrection2 = 1 - Math.Pow(beta2, state.step);
            if (weightDecay != 0)
            {
                grad = grad.Add(parameter, weightDecay);
            }

            using (Scalar alpha = (1 - beta1).ToScalar())
            {
                state.exp_avg.MulInPlace(beta1).add_(grad, alpha);
            }

            using (Scalar value = (1 - beta2).ToScalar())
            using (Tensor conjugate = grad.conj())
            {
                state.exp_avg_sq.MulInPlace(beta2).addcmul_(grad, conjugate, value);
            }

            Tensor denominator;
            if (amsgrad)
            {
                Tensor previous = state.max_exp_avg_sq;
                state.max_exp_avg_sq = torch.maximum(previous, state.exp_avg_sq).DetachFromDisposeScope();
                previous.Dispose();
                denominator = state.max_exp_avg_sq.sqrt().Div(Math.Sqrt(biasCorrection2)).AddInPlace(eps);
            }
            else
            {
                denominator = state.exp_avg_sq.sqrt().Div(Math.Sqrt(biasCorrection2)).AddInPlace(eps);
            }

            using Scalar stepSize = (-(learningRate / biasCorrection1)).ToScalar();
            parameter.addcdiv_(state.exp_avg, denominator, stepSize);
            GC.KeepAlive(grad);
        }
    }, closure);
}
