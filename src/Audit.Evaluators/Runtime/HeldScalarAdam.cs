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
        var moments = new AdamMoments(options.beta1!.Value, options.beta2!.Value, options.eps!.Value, options.amsgrad!.Value);
        double weightDecay = options.weight_decay!.Value;
        foreach ((Parameter parameter, Tensor grad) in AdamMoments.Gradients(group, options.maximize!.Value))
        {
            var state = (State)_state[parameter.Handle];
            state.step += 1;

            // Adam's weight decay is an L2 term on the gradient (AdamW's shrinks the weights instead).
            Tensor decayed = weightDecay != 0 ? grad.Add(parameter, weightDecay) : grad;
            using Tensor conjugate = decayed.conj();
            moments.Update(parameter, decayed, conjugate, state.step, state.exp_avg, state.exp_avg_sq, ref state.max_exp_avg_sq, options.LearningRate!.Value);
        }
    }, closure);
}
