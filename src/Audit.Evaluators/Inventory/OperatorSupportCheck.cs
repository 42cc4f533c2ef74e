namespace Audit.Evaluators.Inventory;

/// <summary>Answers whether the importer can execute an operator (domain, op type, opset); registered once per process.</summary>
public sealed record OperatorSupportCheck(Func<string, string, long, bool> IsSupported);
