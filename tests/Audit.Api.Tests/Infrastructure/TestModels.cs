namespace Audit.Api.Tests.Infrastructure;

/// <summary>Real ONNX files from the ONNX project's conformance data in ../shared.</summary>
public static class TestModels
{
    public static string SharedDirectory => Audit.Evaluators.Tests.Onnx.OnnxConformance.RequireDataRoot();

    /// <summary>A small convolution exported from PyTorch.</summary>
    public static byte[] Conv2d => File.ReadAllBytes(Path.Combine(SharedDirectory, "pytorch-converted", "test_Conv2d", "model.onnx"));

    /// <summary>A model using an operator (LSTM) the importer does not claim.</summary>
    public static byte[] Lstm => File.ReadAllBytes(Path.Combine(SharedDirectory, "node", "test_lstm_defaults", "model.onnx"));
}
