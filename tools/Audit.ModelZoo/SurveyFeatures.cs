using System.Globalization;
using System.Text;

namespace Audit.ModelZoo;

/// <summary>The surveyed models' meta-classifier features as CSV, for offline analysis of a split.</summary>
internal static class SurveyFeatures
{
    /// <summary>
    /// Header and one line per usable model (clean, or backdoored with a working implant; a model whose base detectors
    /// were inconclusive is left out, as the fit leaves it out). Columns: name, architecture, images, layout, scaling,
    /// attack, source class (−1 for all-to-one), target class, label (1 backdoored), then every feature any model has,
    /// in ordinal order; a feature a model lacks is empty.
    /// </summary>
    public static string Csv(IReadOnlyList<SurveyRecord> records)
    {
        var rows = ZooFit.Usable(records);
        List<string> names = rows.SelectMany(r => r.Features.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        var text = new StringBuilder();
        text.AppendLine(string.Join(',', ["name", "architecture", "images", "layout", "scaling", "attack", "source", "target", "label", .. names]));
        foreach ((SurveyRecord record, IReadOnlyDictionary<string, double> features, _) in rows)
        {
            ZooRecipe recipe = record.Recipe;
            IEnumerable<string> values = names.Select(n => features.TryGetValue(n, out double v) ? v.ToString("R", CultureInfo.InvariantCulture) : "");
            text.AppendLine(string.Join(',', [record.Name, recipe.ArchitectureName, recipe.ImagesName, recipe.LayoutName, recipe.ScalingName, recipe.AttackName,
                recipe.SourceClass.ToString(CultureInfo.InvariantCulture),
                recipe.TargetClass.ToString(CultureInfo.InvariantCulture), recipe.Backdoored ? "1" : "0", .. values]));
        }

        return text.ToString();
    }
}
