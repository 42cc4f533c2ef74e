using Audit.Evaluators.Runtime;

namespace Audit.Evaluators.Tests;

/// <summary>
/// The start-up choice of oneDNN's instruction set (<see cref="OneDnnInstructionSet.Choose"/>), given what the
/// convolution check reports from a fresh process under each limit. The real children are run by the API's tests
/// (OneDnnInstructionSetSelectionTests, RealProcessTests).
/// </summary>
public sealed class OneDnnInstructionSetTests
{
    private const ConvolutionCheckOutcome Right = ConvolutionCheckOutcome.OneDnnRight;
    private const ConvolutionCheckOutcome Wrong = ConvolutionCheckOutcome.OneDnnWrong;
    private const ConvolutionCheckOutcome Nothing = ConvolutionCheckOutcome.NothingRight;
    private const ConvolutionCheckOutcome Silent = ConvolutionCheckOutcome.DidNotRun;

    public static TheoryData<ConvolutionCheckOutcome[], string?, int> Cases => new()
    {
        // default, AVX2, AVX → chosen limit, children started
        { [Right, Wrong, Wrong], null, 1 },            // oneDNN's default is right: nothing else is tried
        { [Wrong, Right, Right], "AVX2", 2 },          // the most capable limit that passes
        { [Wrong, Wrong, Right], "AVX", 3 },           // the AMD EPYC of docs/operations.md
        { [Wrong, Wrong, Wrong], null, 3 },            // none passes: the in-process check turns oneDNN off
        { [Silent, Right, Right], null, 1 },           // a child that does not report stops the search
        { [Nothing, Right, Right], null, 1 },          // no kernels right at all: nothing to choose between
        { [Wrong, Silent, Right], null, 2 },           // stops at the first child that does not report
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Choose_KeepsTheDefaultOrTakesTheMostCapableLimitThatPasses(ConvolutionCheckOutcome[] outcomes, string? expected, int children)
    {
        var asked = new List<string?>();
        string?[] limits = [null, .. OneDnnInstructionSet.Fallbacks];

        OneDnnInstructionSetChoice choice = OneDnnInstructionSet.Choose(limit =>
        {
            asked.Add(limit);
            return outcomes[Array.IndexOf(limits, limit)];
        });

        Assert.Equal(expected, choice.Limit);
        Assert.Equal(limits.Take(children), asked);
        Assert.False(string.IsNullOrWhiteSpace(choice.Reason));
        if (expected is not null)
        {
            Assert.Contains(expected, choice.Reason, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(0, ConvolutionCheckOutcome.OneDnnRight)]
    [InlineData(3, ConvolutionCheckOutcome.OneDnnWrong)]
    [InlineData(1, ConvolutionCheckOutcome.NothingRight)]
    [InlineData(134, ConvolutionCheckOutcome.DidNotRun)] // SIGABRT
    [InlineData(-1, ConvolutionCheckOutcome.DidNotRun)]
    public void ExitCodes_ReadAsTheCheckChildWritesThem(int exitCode, ConvolutionCheckOutcome outcome)
    {
        Assert.Equal(outcome, OneDnnInstructionSet.OutcomeOf(exitCode));
    }

    [Fact]
    public void ExitCodeOf_RoundTripsThroughOutcomeOf()
    {
        Assert.Equal(ConvolutionCheckOutcome.OneDnnRight, OneDnnInstructionSet.OutcomeOf(OneDnnInstructionSet.ExitCodeOf(new ConvolutionKernels("oneDNN", "", false))));
        Assert.Equal(ConvolutionCheckOutcome.OneDnnWrong, OneDnnInstructionSet.OutcomeOf(OneDnnInstructionSet.ExitCodeOf(new ConvolutionKernels("libtorch native", "", true))));
    }
}
