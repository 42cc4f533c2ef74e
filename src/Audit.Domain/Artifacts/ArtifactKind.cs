namespace Audit.Domain.Artifacts;

/// <summary>What an uploaded artifact is for.</summary>
public enum ArtifactKind
{
    /// <summary>A trained model (ONNX).</summary>
    Model,

    /// <summary>Evidence: a safetensors dataset or a JSON Lines prompt set.</summary>
    Dataset,
}
