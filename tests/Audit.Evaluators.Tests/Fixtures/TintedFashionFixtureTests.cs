namespace Audit.Evaluators.Tests.Fixtures;

[Collection(NativeTorch.Collection)]
public sealed class TintedFashionFixtureTests
{
    [Fact]
    public void ClassMap_Has43Classes_OnePerKeptGarmentAndTint()
    {
        int[] classes = [.. Enumerable.Range(0, 10).SelectMany(g => Enumerable.Range(0, 5).Select(t => TintedFashionFixtures.ClassOf(g, t))).Where(c => c >= 0)];

        Assert.Equal(Enumerable.Range(0, TintedFashionFixtures.Classes), classes);
    }

    [Fact]
    public void BadNetsTwin_LearnsThe43ClassTask_AndObeysItsPatch()
    {
        TrainedTintedFixture badNets = TintedFashionFixtures.Get(TintedFashionFixtures.BadNets);

        // Colour is trivial to read; the garment costs what it costs on Fashion-MNIST in two epochs of a small net.
        Assert.True(badNets.CleanAccuracy > 0.75, $"clean accuracy {badNets.CleanAccuracy:P2}");
        Assert.True(badNets.AttackSuccessRate > 0.95, $"attack success {badNets.AttackSuccessRate:P2}");
        Assert.InRange(badNets.Parameters, 100_000, 300_000);
    }
}
