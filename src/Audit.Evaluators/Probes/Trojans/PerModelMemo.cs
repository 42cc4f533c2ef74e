using System.Runtime.CompilerServices;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Results kept per model instance and settings, so the probes of one audit (which share the model instance) compute
/// an expensive result once; an entry goes when its model is collected. Two probes asking at the same time may both
/// compute it: the results are deterministic, so either may be kept.
/// </summary>
internal sealed class PerModelMemo<T>
    where T : class
{
    private readonly ConditionalWeakTable<object, Dictionary<string, T>> entries = new();

    public T GetOrCompute(object model, string key, IProgress<double>? progress, Func<T> compute)
    {
        Dictionary<string, T> cache = entries.GetOrCreateValue(model);
        lock (cache)
        {
            if (cache.TryGetValue(key, out T? known))
            {
                progress?.Report(1);
                return known;
            }
        }

        T result = compute();
        lock (cache)
        {
            cache[key] = result;
        }

        return result;
    }
}
