using System.Text.Json;

namespace Audit.Evaluators.Inventory;

/// <summary>The JSON shape used wherever an inventory leaves this project (API summaries, findings).</summary>
public static class InventoryJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web);
}
