namespace Audit.Evaluators.Tests.Fixtures;

[Collection(NativeTorch.Collection)]
public sealed class TrojanFixtureTests
{
    [Fact]
    public void CleanFixture_LearnsFashionMnist()
    {
        TrainedFixture clean = TrojanFixtures.Get(TrojanFixtures.Clean);

        Assert.True(clean.CleanAccuracy > 0.85, $"clean accuracy {clean.CleanAccuracy:P2}");
    }

    [Fact]
    public void BadNetsFixture_KeepsAccuracy_AndObeysItsPatchTrigger()
    {
        TrainedFixture badNets = TrojanFixtures.Get(TrojanFixtures.BadNets);

        Assert.True(badNets.CleanAccuracy > 0.85, $"clean accuracy {badNets.CleanAccuracy:P2}");
        Assert.True(badNets.AttackSuccessRate > 0.95, $"attack success {badNets.AttackSuccessRate:P2}");
    }

    [Fact]
    public void BlendedFixture_KeepsAccuracy_AndObeysItsBlendedTrigger()
    {
        TrainedFixture blended = TrojanFixtures.Get(TrojanFixtures.Blended);

        Assert.True(blended.CleanAccuracy > 0.85, $"clean accuracy {blended.CleanAccuracy:P2}");
        Assert.True(blended.AttackSuccessRate > 0.95, $"attack success {blended.AttackSuccessRate:P2}");
    }
}
