using System.Text.Json;
using Audit.Evaluators.Probes;

namespace Audit.Evaluators.Tests;

public sealed class ProbeCatalogTests
{
    private static readonly ProbeDescriptor Descriptor = new(
        "example", "Example", "Nobody, 2024", ModelKinds.Classifier, EvidenceKind.None, 2, "statistic",
        [
            new ProbeParameter("steps", ProbeParameterType.Integer, "steps", JsonSerializer.SerializeToElement(10), 1, 100),
            new ProbeParameter("rate", ProbeParameterType.Number, "rate", JsonSerializer.SerializeToElement(0.1), 0, 1),
            new ProbeParameter("classes", ProbeParameterType.NumberArray, "classes", JsonSerializer.SerializeToElement(Array.Empty<int>()), 0, 9),
        ]);

    private static Dictionary<string, JsonElement> Parameters(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!;

    [Theory]
    [InlineData("""{"steps": 0}""", "steps")]
    [InlineData("""{"steps": 1.5}""", "steps")]
    [InlineData("""{"steps": "ten"}""", "steps")]
    [InlineData("""{"rate": 2}""", "rate")]
    [InlineData("""{"classes": [1, 10]}""", "classes")]
    [InlineData("""{"classes": 3}""", "classes")]
    [InlineData("""{"colour": "red"}""", "colour")]
    public void Validate_NamesTheOffendingParameter(string json, string parameter)
    {
        var errors = ProbeCatalog.Validate(Descriptor, Parameters(json));

        Assert.Equal(parameter, Assert.Single(errors).Parameter);
    }

    [Fact]
    public void Validate_AcceptsValuesInRange_AndDefaultsFillTheRest()
    {
        Dictionary<string, JsonElement> given = Parameters("""{"steps": 100, "classes": [0, 9]}""");

        Assert.Empty(ProbeCatalog.Validate(Descriptor, given));
        IReadOnlyDictionary<string, JsonElement> merged = ProbeCatalog.WithDefaults(Descriptor, given);
        Assert.Equal(100, merged["steps"].GetInt32());
        Assert.Equal(0.1, merged["rate"].GetDouble());
    }
}
