using Audit.Evaluators.Datasets;

namespace Audit.Evaluators.Probes.Deception;

/// <summary>A contiguous run of editable positions a trigger may be written over.</summary>
/// <param name="Start">First position overwritten.</param>
/// <param name="Length">Tokens written.</param>
internal readonly record struct TriggerSpan(int Start, int Length)
{
    public override string ToString() => $"{Start}..{Start + Length - 1}";
}

/// <summary>
/// Where and with what a trigger search may edit the prompts, read from the evidence rather than told: a position is
/// editable when the prompts to search vary there (or a pair or control edits it) and it comes before every prompt's
/// last token; the tokens that may be written there are those the evidence shows at that position (any record,
/// any role), or the whole vocabulary when asked. The same candidates feed the random-edit control, so the found
/// trigger is compared with edits that are equally in distribution (the specificity control the issue asks for:
/// writing digits into an arithmetic prompt changes an honest model's answer too).
/// </summary>
internal sealed class TriggerSearchSpace
{
    private readonly long[][] _candidates;

    private TriggerSearchSpace(IReadOnlyList<int> editable, long[][] candidates, IReadOnlyList<TriggerSpan> spans, bool wholeVocabulary)
    {
        Editable = editable;
        _candidates = candidates;
        Spans = spans;
        WholeVocabulary = wholeVocabulary;
    }

    /// <summary>Editable positions, ascending.</summary>
    public IReadOnlyList<int> Editable { get; }

    /// <summary>Every span of the requested lengths that lies inside the editable positions.</summary>
    public IReadOnlyList<TriggerSpan> Spans { get; }

    /// <summary>True when the candidates are the whole vocabulary rather than what the evidence shows.</summary>
    public bool WholeVocabulary { get; }

    /// <summary>Tokens that may be written at <paramref name="position"/> (ascending, at least two).</summary>
    public IReadOnlyList<long> CandidatesAt(int position) => _candidates[position];

    /// <summary>The union of all positions' candidates, ascending.</summary>
    public long[] AllCandidates() => Editable.SelectMany(p => _candidates[p]).Distinct().Order().ToArray();

    /// <summary>A trigger for <paramref name="span"/> whose every token is drawn uniformly from its position's candidates.</summary>
    public long[] Draw(TriggerSpan span, Random random)
    {
        var trigger = new long[span.Length];
        for (int l = 0; l < span.Length; l++)
        {
            long[] pool = _candidates[span.Start + l];
            trigger[l] = pool[random.Next(pool.Length)];
        }

        return trigger;
    }

    /// <summary>
    /// A random edit of <paramref name="span"/> that differs from <paramref name="other"/>: the control asks whether the
    /// found trigger is exceptional among the *other* in-distribution edits, and with a few dozen candidates a plain
    /// draw would hit the trigger itself several times in 200 and count it against itself.
    /// </summary>
    public long[] DrawOther(TriggerSpan span, long[] other, Random random)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (int attempt = 0; ; attempt++)
        {
            long[] edit = Draw(span, random);
            if (attempt >= 1000 || !edit.AsSpan().SequenceEqual(other))
            {
                return edit;
            }
        }
    }

    /// <summary>
    /// Reads the search space from <paramref name="prompts"/> (the prompts the search edits) and the whole
    /// <paramref name="evidence"/>. Spans of <paramref name="minLength"/>..<paramref name="maxLength"/> tokens.
    /// </summary>
    public static TriggerSearchSpace Create(IReadOnlyList<long[]> prompts, SequenceEvidence evidence, int vocabularySize, int minLength, int maxLength, bool wholeVocabulary)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(evidence);
        if (prompts.Count == 0)
        {
            return new TriggerSearchSpace([], [], [], wholeVocabulary);
        }

        // Only positions before every prompt's last token: the answer is read at the last token, and a trigger
        // written over it would change the question rather than the context.
        int limit = prompts.Min(p => p.Length) - 1;
        var seen = new HashSet<long>[Math.Max(0, limit)];
        for (int t = 0; t < seen.Length; t++)
        {
            seen[t] = [];
        }

        var varies = new bool[seen.Length];
        foreach (long[] sequence in AllSequences(evidence))
        {
            for (int t = 0; t < Math.Min(seen.Length, sequence.Length - 1); t++)
            {
                seen[t].Add(sequence[t]);
            }
        }

        for (int t = 0; t < seen.Length; t++)
        {
            long first = prompts[0][t];
            varies[t] = prompts.Any(p => p[t] != first);
        }

        // A pair or control that edits a position marks it editable even when the prompts happen to agree there.
        foreach (PromptPair pair in evidence.Pairs.Concat(evidence.Controls))
        {
            for (int t = 0; t < Math.Min(seen.Length, Math.Min(pair.Base.Length, pair.Cued.Length)); t++)
            {
                varies[t] |= pair.Base[t] != pair.Cued[t];
            }
        }

        var candidates = new long[seen.Length][];
        var editable = new List<int>();
        for (int t = 0; t < seen.Length; t++)
        {
            candidates[t] = wholeVocabulary
                ? Enumerable.Range(0, vocabularySize).Select(v => (long)v).ToArray()
                : seen[t].Order().ToArray();
            if (varies[t] && candidates[t].Length >= 2)
            {
                editable.Add(t);
            }
        }

        var isEditable = new bool[seen.Length];
        editable.ForEach(t => isEditable[t] = true);
        var spans = new List<TriggerSpan>();
        for (int length = minLength; length <= maxLength; length++)
        {
            foreach (int start in editable)
            {
                if (start + length <= seen.Length && Enumerable.Range(start, length).All(t => isEditable[t]))
                {
                    spans.Add(new TriggerSpan(start, length));
                }
            }
        }

        return new TriggerSearchSpace(editable, candidates, spans, wholeVocabulary);
    }

    private static IEnumerable<long[]> AllSequences(SequenceEvidence evidence)
    {
        foreach (PromptPair pair in evidence.Pairs.Concat(evidence.Controls))
        {
            yield return pair.Base;
            yield return pair.Cued;
        }

        foreach (LabelledStatement statement in evidence.Statements)
        {
            yield return statement.Tokens;
        }

        foreach (ContrastPair contrast in evidence.Contrasts)
        {
            yield return contrast.Positive;
            yield return contrast.Negative;
        }

        foreach (EvaluationPrompt prompt in evidence.Prompts)
        {
            yield return prompt.Tokens;
        }
    }
}
