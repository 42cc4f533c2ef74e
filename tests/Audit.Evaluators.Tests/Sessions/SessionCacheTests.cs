using Audit.Evaluators.Sessions;

namespace Audit.Evaluators.Tests.Sessions;

public sealed class SessionCacheTests
{
    [Fact]
    public void GetOrCreate_ComputesOnce_AndHandsLaterCallersTheSameValue()
    {
        using var cache = new SessionCache();
        int calls = 0;

        object first = cache.GetOrCreate("scan", () => { calls++; return new object(); }, out bool created);
        object second = cache.GetOrCreate("scan", () => { calls++; return new object(); }, out bool createdAgain);

        Assert.Same(first, second);
        Assert.Equal(1, calls);
        Assert.True(created);
        Assert.False(createdAgain);
    }

    [Fact]
    public async Task TryGetComputed_HandsOnlyFinishedValues_AndNeverWaits()
    {
        // An idle step uses the distilled reference only once it exists; it must not wait for, or start, its training.
        using var cache = new SessionCache();
        using var release = new ManualResetEventSlim();
        using var started = new ManualResetEventSlim();

        Assert.False(cache.TryGetComputed("reference", out string? missing));
        Assert.Null(missing);
        Task<string> computing = Task.Run(() => cache.GetOrCreate("reference", () =>
        {
            started.Set();
            release.Wait(TimeSpan.FromSeconds(30));
            return "reference";
        }));
        Assert.True(started.Wait(TimeSpan.FromSeconds(30)));
        Assert.False(cache.TryGetComputed("reference", out string? underWay));
        Assert.Null(underWay);

        release.Set();
        Assert.Equal("reference", await computing);
        Assert.True(cache.TryGetComputed("reference", out string? done));
        Assert.Equal("reference", done);
        Assert.False(cache.TryGetComputed("reference", out Version? otherType));
        Assert.Null(otherType);
    }

    [Fact]
    public void GetOrCreate_KeepsKeysApart()
    {
        using var cache = new SessionCache();

        string a = cache.GetOrCreate("a", () => "first");
        string b = cache.GetOrCreate("b", () => "second");

        Assert.Equal(("first", "second"), (a, b));
    }

    [Fact]
    public void AFactoryThatThrows_StoresNothing_SoTheNextCallComputesAgain()
    {
        using var cache = new SessionCache();

        Assert.Throws<OperationCanceledException>(() => cache.GetOrCreate<string>("scan", () => throw new OperationCanceledException()));
        string value = cache.GetOrCreate("scan", () => "computed");

        Assert.Equal("computed", value);
    }

    [Fact]
    public void AFactory_MayWaitForAnotherKeyComputedOnAnotherThread()
    {
        // The trigger scan's reference lane stores the distilled reference while the scan's own entry is computed.
        using var cache = new SessionCache();

        string scan = cache.GetOrCreate("scan", () =>
        {
            Task<string> lane = Task.Run(() => cache.GetOrCreate("reference", () => "reference"));
            Assert.True(lane.Wait(TimeSpan.FromSeconds(30)), "the other key waited for the first key's computation");
            return "scan over " + lane.Result;
        });

        Assert.Equal("scan over reference", scan);
        Assert.True(cache.Contains("reference"));
    }

    [Fact]
    public async Task ConcurrentRequestsForOneKey_WaitForOneComputation()
    {
        using var cache = new SessionCache();
        int calls = 0;
        using var release = new ManualResetEventSlim();

        Task<object> first = Task.Run(() => cache.GetOrCreate("scan", () => { Interlocked.Increment(ref calls); release.Wait(TimeSpan.FromSeconds(30)); return new object(); }));
        SpinWait.SpinUntil(() => Volatile.Read(ref calls) == 1, TimeSpan.FromSeconds(30));
        Task<object> second = Task.Run(() => cache.GetOrCreate("scan", () => { Interlocked.Increment(ref calls); return new object(); }));
        release.Set();

        Assert.Same(await first, await second);
        Assert.Equal(1, calls);
    }

    [Fact]
    public void AKeyHoldingAnotherType_IsAnError()
    {
        using var cache = new SessionCache();
        cache.GetOrCreate("scan", () => "text");

        Assert.Throws<InvalidOperationException>(() => cache.GetOrCreate("scan", () => new List<int>()));
    }

    [Fact]
    public void Dispose_DisposesTheValues_AndRefusesLaterUse()
    {
        var cache = new SessionCache();
        var value = new Disposable();
        cache.GetOrCreate("reference", () => value);

        cache.Dispose();

        Assert.True(value.Disposed);
        Assert.Throws<ObjectDisposedException>(() => cache.GetOrCreate("reference", () => new Disposable()));
    }

    private sealed class Disposable : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }
}
