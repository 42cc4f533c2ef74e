using TorchSharp;

namespace Audit.Evaluators.Models;

/// <summary>The <c>Device</c> setting: <c>auto</c>, <c>cpu</c> or <c>cuda</c> (optionally <c>cuda:N</c>).</summary>
public sealed record ComputeDevice
{
    private ComputeDevice(string name, torch.Device device)
    {
        Name = name;
        Torch = device;
    }

    /// <summary>What the report states, e.g. <c>cpu</c> or <c>cuda:0</c>.</summary>
    public string Name { get; }

    internal torch.Device Torch { get; }

    /// <summary>The CPU, always present.</summary>
    public static ComputeDevice Cpu { get; } = new("cpu", torch.CPU);

    /// <summary>Resolves a setting. <c>auto</c> picks CUDA when a CUDA build of libtorch sees a GPU.</summary>
    /// <exception cref="ArgumentException">The setting is unknown, or <c>cuda</c> was asked for and none is present.</exception>
    public static ComputeDevice Resolve(string? setting)
    {
        string value = (setting ?? "auto").Trim().ToLowerInvariant();
        if (value is "" or "auto")
        {
            return torch.cuda.is_available() ? new ComputeDevice("cuda:0", new torch.Device(DeviceType.CUDA, 0)) : Cpu;
        }

        if (value == "cpu")
        {
            return Cpu;
        }

        if (value == "cuda" || value.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
            {
                throw new ArgumentException("Device 'cuda' was requested but this libtorch build sees no CUDA device.", nameof(setting));
            }

            int index = value == "cuda" ? 0 : int.Parse(value.AsSpan(5), System.Globalization.CultureInfo.InvariantCulture);
            return new ComputeDevice($"cuda:{index}", new torch.Device(DeviceType.CUDA, index));
        }

        throw new ArgumentException($"Unknown device '{setting}': use auto, cpu or cuda.", nameof(setting));
    }
}
