using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using System.Runtime.InteropServices;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Onnx;

/// <summary>Outcome of one ONNX backend test folder.</summary>
public enum ConformanceStatus
{
    /// <summary>Some operator (at the model's opset) is not claimed by the importer.</summary>
    NotClaimed,

    /// <summary>Every operator is claimed but the importer refused a variant (attribute, element type) with UnsupportedOperatorException.</summary>
    UnsupportedVariant,

    Passed,

    Failed,
}

public sealed record ConformanceResult(string Folder, string Test, ConformanceStatus Status, string Detail);

/// <summary>
/// Runs the ONNX project's backend test data (../shared/onnx-backend-tests) through the importer and compares
/// with ONNX's default tolerances (rtol 1e-3, atol 1e-7).
/// </summary>
public static class OnnxConformance
{
    public const double RelativeTolerance = 1e-3;
    public const double AbsoluteTolerance = 1e-7;

    public static readonly string[] Folders = ["node", "pytorch-converted", "pytorch-operator", "simple"];

    /// <summary>Where to look when the data is not in a <c>shared/</c> folder beside (or above) the repository.</summary>
    public const string DataVariable = "AUDIT_ONNX_BACKEND_TESTS";

    /// <summary>
    /// The ONNX backend test data: <c>$AUDIT_ONNX_BACKEND_TESTS</c> when set, else <c>shared/onnx-backend-tests</c>
    /// found by walking up from the test assembly (CI places <c>shared/</c> beside the clone).
    /// </summary>
    public static string? DataRoot()
    {
        string? configured = Environment.GetEnvironmentVariable(DataVariable);
        if (!string.IsNullOrEmpty(configured))
        {
            return Directory.Exists(configured) ? configured : null;
        }

        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "onnx-backend-tests");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The data root, or an error that says where it was looked for and how to point at it.</summary>
    public static string RequireDataRoot() => DataRoot() ?? throw new DirectoryNotFoundException(
        $"The ONNX backend test data was not found: set {DataVariable} to its folder, or place it at ../shared/onnx-backend-tests beside the repository.");

    public static IReadOnlyList<ConformanceResult> RunFolder(string root, string folder)
    {
        List<ConformanceResult> results = [];
        foreach (string dir in Directory.GetDirectories(Path.Combine(root, folder)).Order(StringComparer.Ordinal))
        {
            results.Add(RunTest(folder, dir));
        }

        return results;
    }

    /// <summary>True when every node's operator is claimed at the model's opset (and no foreign domain is used).</summary>
    public static bool Claimed(ModelProto model, out string detail)
    {
        OperatorSetIdProto? import = model.OpsetImport.FirstOrDefault(o => OnnxOperatorSupport.IsDefaultDomain(o.Domain));
        int opset = (int)(import?.Version ?? 0);
        string[] missing = [.. model.Graph.Node
            .Where(n => !OnnxOperatorSupport.IsSupported(n.OpType, n.Domain, opset))
            .Select(n => (string.IsNullOrEmpty(n.Domain) ? "" : n.Domain + ".") + n.OpType + "@" + opset)
            .Distinct()];
        detail = string.Join(", ", missing);
        return missing.Length == 0 && model.Graph.Node.Count > 0;
    }

    public static ConformanceResult RunTest(string folder, string dir)
    {
        string name = Path.GetFileName(dir);
        byte[] bytes = File.ReadAllBytes(Path.Combine(dir, "model.onnx"));
        ModelProto proto = ModelProto.Parser.ParseFrom(bytes);
        if (!Claimed(proto, out string missing))
        {
            return new(folder, name, ConformanceStatus.NotClaimed, missing);
        }

        using DisposeScope scope = torch.NewDisposeScope();
        try
        {
            using OnnxGraph graph = OnnxModelLoader.Load(bytes, ComputeDevice.Cpu);
            foreach (string set in Directory.GetDirectories(dir, "test_data_set_*").Order(StringComparer.Ordinal))
            {
                Dictionary<string, Tensor> inputs = [];
                for (int k = 0; k < graph.Inputs.Count; k++)
                {
                    string file = Path.Combine(set, $"input_{k}.pb");
                    if (File.Exists(file))
                    {
                        inputs[graph.Inputs[k].Name] = OnnxTensors.ReadTensorFile(file, CPU);
                    }
                }

                IReadOnlyDictionary<string, Tensor> outputs;
                using (torch.no_grad())
                {
                    outputs = graph.Run(inputs);
                }

                for (int k = 0; k < graph.Outputs.Count; k++)
                {
                    string file = Path.Combine(set, $"output_{k}.pb");
                    Tensor expected = OnnxTensors.ReadTensorFile(file, CPU);
                    string? mismatch = Compare(outputs[graph.Outputs[k].Name], expected);
                    if (mismatch is not null)
                    {
                        return new(folder, name, ConformanceStatus.Failed, $"{Path.GetFileName(set)} output {k}: {mismatch}");
                    }
                }
            }

            return new(folder, name, ConformanceStatus.Passed, "");
        }
        catch (UnsupportedOperatorException e)
        {
            return new(folder, name, ConformanceStatus.UnsupportedVariant, string.Join("; ", e.Unsupported));
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or ModelRejectedException or ExternalException)
        {
            return new(folder, name, ConformanceStatus.Failed, e.GetType().Name + ": " + e.Message.Split('\n')[0]);
        }
    }

    /// <summary>NumPy's assert_allclose rule: |actual - expected| &lt;= atol + rtol * |expected|, NaN equal to NaN.</summary>
    public static string? Compare(Tensor actual, Tensor expected, double rtol = RelativeTolerance, double atol = AbsoluteTolerance)
    {
        if (actual.dtype != expected.dtype)
        {
            return $"dtype {actual.dtype}, expected {expected.dtype}";
        }

        if (!actual.shape.SequenceEqual(expected.shape))
        {
            return $"shape [{string.Join(",", actual.shape)}], expected [{string.Join(",", expected.shape)}]";
        }

        if (expected.numel() == 0)
        {
            return null;
        }

        using Tensor a = actual.detach().cpu().to_type(ScalarType.Float64);
        using Tensor e = expected.cpu().to_type(ScalarType.Float64);
        double[] av = a.data<double>().ToArray();
        double[] ev = e.data<double>().ToArray();
        for (int k = 0; k < av.Length; k++)
        {
            double x = av[k];
            double y = ev[k];
            bool ok = (double.IsNaN(x) && double.IsNaN(y)) || x == y || Math.Abs(x - y) <= atol + (rtol * Math.Abs(y));
            if (!ok)
            {
                return $"element {k}: {x} vs expected {y}";
            }
        }

        return null;
    }
}
