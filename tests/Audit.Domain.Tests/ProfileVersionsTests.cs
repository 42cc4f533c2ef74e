using Audit.Domain.Profiles;

namespace Audit.Domain.Tests;

public sealed class ProfileVersionsTests
{
    [Theory]
    [InlineData("1.0.0-rc.10", "1.0.0-rc.2")]
    [InlineData("1.0.0", "1.0.0-rc.10")]
    [InlineData("1.10.0", "1.9.0")]
    [InlineData("2.0.0", "1.99.99")]
    [InlineData("1.0.0-rc.1", "1.0.0-beta.11")]
    [InlineData("1.0.0-alpha.beta", "1.0.0-alpha.1")]
    [InlineData("1.0.0", "not-a-version")]
    public void Compare_OrdersBySemVerPrecedence(string newer, string older)
    {
        Assert.True(ProfileVersions.Compare(newer, older) > 0);
        Assert.True(ProfileVersions.Compare(older, newer) < 0);
    }

    [Fact]
    public void Latest_OfReleaseCandidates_IsTheHighestNumber()
    {
        string[] versions = ["1.0.0-rc.2", "1.0.0-rc.10", "1.0.0-rc.9"];

        Assert.Equal("1.0.0-rc.10", versions.Max(ProfileVersions.Precedence));
    }

    [Theory]
    [InlineData("1.0.0", true)]
    [InlineData("1.0.0-rc.10", true)]
    [InlineData("1.0", false)]
    [InlineData("01.0.0", false)]
    [InlineData("1.0.0+build.5", false)]
    [InlineData("v1.0.0", false)]
    public void IsValid_AcceptsSemVerWithoutMetadata(string version, bool valid)
    {
        Assert.Equal(valid, ProfileVersions.IsValid(version));
    }
}
