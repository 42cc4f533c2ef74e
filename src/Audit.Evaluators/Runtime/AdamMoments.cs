using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Runtime;

/// <summary>The moment updates and the parameter step Adam and AdamW share, in TorchSharp's order, scalars held.</summary>
internal readonly record struct AdamMoments(double Beta1, double Beta2, double Epsilon, bool AmsGrad)
{
    /// <summary>The group's parameters that have a gradient, each with it (negated to maximise), as TorchSharp walks them.</summary>
    public static IEnumerable<(Parameter Parameter, Tensor Gradient)> Gradients(ParamGroup group, bool maximize)
    {
        foreach (Parameter parameter in group.Parameters)
        {
            if (parameter.grad is { } gradient)
            {
                yield return (parameter, maximize ? -gradient : gradient);
            }
        }
    }

    /// <summary>
    /// One step for <paramref name="parameter"/>: the moving averages of the gradient and of its square, then the
    /// bias-corrected step. The gradient's second factor in the squared average is
    /// <paramref name="gradientForSquare"/>: TorchSharp's Adam takes the conjugate there (equal for real tensors), its
    /// AdamW the gradient itself. <paramref name="largestSecondMoment"/> is replaced under AMSGrad.
    /// </summary>
    public void Update(Parameter parameter, Tensor gradient, Tensor gradientForSquare, long step, Tensor firstMoment, Tensor secondMoment, ref Tensor largestSecondMoment, double learningRate)
    {
        double biasCorrection1 = 1 - Math.Pow(Beta1, step);
        double biasCorrection2 = 1 - Math.Pow(Beta2, step);
        using (Scalar alpha = (1 - Beta1).ToScalar())
        {
            firstMoment.MulInPlace(Beta1).add_(gradient, alpha);
        }

        using (Scalar value = (1 - Beta2).ToScalar())
        {
            secondMoment.MulInPlace(Beta2).addcmul_(gradient, gradientForSquare, value);
        }

        Tensor denominator;
        if (AmsGrad)
        {
            Tensor previous = largestSecondMoment;
            largestSecondMoment = torch.maximum(previous, secondMoment).DetachFromDisposeScope();
            previous.Dispose();
            denominator = largestSecondMoment.sqrt().Div(Math.Sqrt(biasCorrection2)).AddInPlace(Epsilon);
        }
        else
        {
            denominator = secondMoment.sqrt().Div(Math.Sqrt(biasCorrection2)).AddInPlace(Epsilon);
        }

        using Scalar stepSize = (-(learningRate / biasCorrection1)).ToScalar();
        parameter.addcdiv_(firstMoment, denominator, stepSize);
        GC.KeepAlive(gradient);
        GC.KeepAlive(gradientForSquare);
    }
}
