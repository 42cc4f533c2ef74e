using Audit.Domain.Statistics;

namespace Audit.ModelZoo;

/// <summary>
/// trojan-likelihood's check that a model does its task (<see cref="ChanceLevelTest"/> on the labelled evidence),
/// read for a surveyed model so the zoo's rates count it as the probe answers it (docs/probes.md, "Models wrong on most of their evidence", "Models at chance
/// accuracy"). The survey did not record the evidence's own accuracy, so the model's accuracy on the test images after
/// the evidence stands in for it, with the evidence's count (<see cref="ZooTrainer.EvidenceCount"/>) and the evidence's
/// own commonest-label share: a model within a binomial error of the edge may fall the other way in an audit.
/// </summary>
internal sealed class ZooTaskCheck(ZooTrainer trainer)
{
    // Per image variant (ten garments, or the 43 tinted classes): every recipe of a variant is audited on the same labels.
    private readonly Dictionary<ImageFormat, double> _chance = [];

    /// <summary>The check as the probe would make it on <paramref name="record"/>'s evidence.</summary>
    public ChanceLevelTest Of(SurveyRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!_chance.TryGetValue(record.Recipe.Images, out double chance))
        {
            chance = ChanceLevelTest.MajorityShare(trainer.EvidenceLabels(record.Recipe));
            _chance[record.Recipe.Images] = chance;
        }

        int correct = (int)Math.Round(record.CleanAccuracy * ZooTrainer.EvidenceCount);
        return ChanceLevelTest.OfTask(ZooTrainer.EvidenceCount, correct, chance);
    }
}
