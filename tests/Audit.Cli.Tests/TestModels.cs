namespace Audit.Cli.Tests;

/// <summary>Real ONNX files from the ONNX project's conformance data.</summary>
internal static class TestModels
{
    /// <summary>A small convolution exported from PyTorch.</summary>
    public static byte[] Conv2d => File.ReadAllBytes(Path.Combine(
        Audit.Evaluators.Tests.Onnx.OnnxConformance.RequireDataRoot(), "pytorch-converted", "test_Conv2d", "model.onnx"));

    /// <summary>A model using an operator (LSTM) the evaluators cannot execute: its audit fails to run.</summary>
    public static byte[] Lstm => File.ReadAllBytes(Path.Combine(
        Audit.Evaluators.Tests.Onnx.OnnxConformance.RequireDataRoot(), "node", "test_lstm_defaults", "model.onnx"));
}
