using Audit.Evaluators.Probes.Deception;

namespace Audit.Evaluators.Datasets;

/// <summary>
/// What each deception indicator needs from sequence evidence at its default parameters, checked before an audit
/// starts so that evidence that cannot support a control is refused with what to add, rather than ending the audit
/// inconclusive. Mirrors the probes' own inconclusive conditions (the probes still check, with their actual parameters).
/// </summary>
public static class SequenceEvidenceRequirements
{
    /// <summary>Probes this check knows; others need no sequence evidence or check it themselves.</summary>
    public static IReadOnlySet<string> Probes { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        CueDivergenceProbe.Name, TriggerSearchProbe.Name, TokenClassDominanceProbe.Name, LinearDeceptionProbe.Name, ContrastConsistentSearchProbe.Name,
    };

    /// <summary>
    /// Why <paramref name="evidence"/> cannot support <paramref name="probe"/> at its defaults, each reason saying what to
    /// add; empty when it can (or the probe is not a sequence probe).
    /// </summary>
    public static IReadOnlyList<string> Shortfalls(string probe, SequenceEvidence evidence)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        var reasons = new List<string>();
        switch (probe)
        {
            case CueDivergenceProbe.Name:
                if (evidence.Pairs.Count < 2 || evidence.Controls.Count < 2)
                {
                    reasons.Add($"{probe} needs at least 2 'pair' and 2 'control' records (has {evidence.Pairs.Count} and {evidence.Controls.Count}): add prompts with the suspected cue and the same prompts with an ordinary edit of the same place and length.");
                }

                break;
            case TriggerSearchProbe.Name:
                List<long[]> bases = evidence.Pairs.Concat(evidence.Controls).Select(p => p.Base).DistinctBy(p => string.Join(',', p)).ToList();
                if (bases.Count < 4)
                {
                    reasons.Add($"{probe} needs at least 4 distinct 'base' prompts in pair or control records (has {bases.Count}): add control records whose base prompts are typical inputs of the model.");
                }
                else if (TriggerSearchSpace.Create(bases, evidence, int.MaxValue, 1, 4, wholeVocabulary: false).Spans.Count == 0)
                {
                    reasons.Add($"{probe} needs base prompts that differ somewhere before their last token (they never do): add prompts whose free text varies where a trigger could sit.");
                }

                break;
            case TokenClassDominanceProbe.Name:
                int distinct = evidence.Pairs.Concat(evidence.Controls).Select(p => p.Base).DistinctBy(p => string.Join(',', p)).Count();
                if (distinct < 8)
                {
                    reasons.Add($"{probe} needs at least 8 distinct 'base' prompts in pair or control records (has {distinct}): add control records whose base prompts are typical inputs of the model.");
                }

                break;
            case LinearDeceptionProbe.Name:
                int honest = evidence.Statements.Count(s => s.Label), deceptive = evidence.Statements.Count - honest;
                if (honest < 5 || deceptive < 5)
                {
                    reasons.Add($"{probe} needs at least 5 'statement' records labelled true and 5 labelled false (has {honest} and {deceptive}): add labelled claims of both kinds.");
                }

                if (evidence.Prompts.Count == 0)
                {
                    reasons.Add($"{probe} needs 'prompt' records to screen (has none): add the inputs whose answers you want checked.");
                }

                break;
            case ContrastConsistentSearchProbe.Name:
                int usable = evidence.Contrasts.Count(c => c.AffirmativeToken is not null);
                if (usable < 8)
                {
                    reasons.Add($"{probe} needs at least 8 'contrast' records with 'answers' (has {usable}): add propositions put both ways (or as complementary claims) with the affirmative and negative answer tokens.");
                }

                break;
        }

        return reasons;
    }
}
