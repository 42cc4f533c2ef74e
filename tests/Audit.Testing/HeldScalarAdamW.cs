using Audit.Evaluators.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Testing;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter, "Decoupled Weight Decay Regularization", 2019) as TorchSharp 0.107 implements it,
/// step for step, with every scalar held through its libtorch call: TorchSharp's own <c>AdamW.step</c> makes temporary
/// scalars that a garbage collection can free mid-call (<see cref="HeldScalars"/> says why). Same arithmetic, same order,
/// so fixtures train to the same weights bit for bit; it stays an <see cref="AdamW"/>, so TorchSharp's learning-rate
/// schedules drive it as before.
/// </summary>
public sealed class HeldScalarAdamW : AdamW
{
    /// <summary>AdamW over <paramref name="parameters"/> with TorchSharp's defaults for the betas and ε.</summary>
    public HeldScalarAdamW(IEnumerable<Parameter> parameters, double learningRate, double weightDecay)
        : base(parameters, learningRate, weight_decay: weightDecay)
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
            parameter.MulInPlace(1 - (learningRate * weightDecay));
            double biasCorrection1 = 1 - Math.Pow(beta1, state.step);
            double biasCorrection2 = 1 - Math.Pow(beta2, state.step);

            using (Scalar alpha = (1 - beta1).ToScalar())
            {
                state.exp_avg.MulInPlace(beta1).add_(grad, alpha);
            }

            using (Scalar value = (1 - beta2).ToScalar())
            {
                state.exp_avg_sq.MulInPlace(beta2).addcmul_(grad, grad, value);
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
