using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Runtime;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter, "Decoupled Weight Decay Regularization", 2019) as TorchSharp 0.107 implements it,
/// step for step, with every scalar held through its libtorch call (<see cref="HeldScalars"/> says why). It stays an
/// <see cref="AdamW"/>, so TorchSharp's learning-rate schedules drive it as before.
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
        var moments = new AdamMoments(options.beta1!.Value, options.beta2!.Value, options.eps!.Value, options.amsgrad!.Value);
        double learningRate = options.LearningRate!.Value;
        foreach ((Parameter parameter, Tensor grad) in AdamMoments.Gradients(group, options.maximize!.Value))
        {
            var state = (State)_state[parameter.Handle];
            state.step += 1;
            parameter.MulInPlace(1 - (learningRate * options.weight_decay!.Value));
            moments.Update(parameter, grad, grad, state.step, state.exp_avg, state.exp_avg_sq, ref state.max_exp_avg_sq, learningRate);
        }
    }, closure);
}
