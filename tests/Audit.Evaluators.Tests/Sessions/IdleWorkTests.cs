using Audit.Evaluators.Sessions;

namespace Audit.Evaluators.Tests.Sessions;

public sealed class IdleWorkTests
{
    [Fact]
    public void RunUntil_RunsOfferedSteps_UntilNoneIsLeft()
    {
        var idle = new IdleWork();
        int left = 3;
        idle.Offer((_, _) => left-- > 0);

        int ran = idle.RunUntil(new TaskCompletionSource().Task, IdleModel.Audited, CancellationToken.None);

        Assert.Equal(3, ran);
    }

    [Fact]
    public void RunUntil_StopsOnceTheAwaitedWorkIsDone()
    {
        var idle = new IdleWork();
        var awaited = new TaskCompletionSource();
        int ran = 0;
        idle.Offer((_, _) =>
        {
            if (++ran == 2)
            {
                awaited.SetResult();
            }

            return true;
        });

        Assert.Equal(2, idle.RunUntil(awaited.Task, IdleModel.Audited, CancellationToken.None));
        Assert.Equal(2, ran);
        Assert.Equal(0, idle.RunUntil(awaited.Task, IdleModel.Audited, CancellationToken.None));
    }

    [Fact]
    public void RunUntil_PassesTheModelTheLaneMayUse_AndMovesToTheNextOffer()
    {
        var idle = new IdleWork();
        var seen = new List<IdleModel>();
        int referenceSteps = 2;
        idle.Offer((model, _) => model == IdleModel.Audited);
        idle.Offer((model, _) =>
        {
            seen.Add(model);
            return model == IdleModel.Reference && referenceSteps-- > 0;
        });

        int ran = idle.RunUntil(new TaskCompletionSource().Task, IdleModel.Reference, CancellationToken.None);

        Assert.Equal(2, ran);
        Assert.All(seen, model => Assert.Equal(IdleModel.Reference, model));
    }
}
