using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.ModelZoo;

/// <summary>Applies a recipe's trigger to raw [0, 1] images <c>[N, C, H, W]</c> (the recipe's channels and size).</summary>
internal static class ZooTriggers
{
    /// <summary>The triggered images (a new tensor; the input is untouched).</summary>
    public static Tensor Apply(ZooRecipe recipe, Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        Tensor result = recipe.Attack switch
        {
            AttackKind.Patch or AttackKind.Blend => Overlay(recipe, images),
            AttackKind.Warp => nn.functional.grid_sample(images, WarpGrid(recipe).expand(images.shape[0], -1, -1, -1), align_corners: true),
            _ => images.clone(),
        };
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// WaNet's noise mode: the warp plus a random per-image perturbation of the grid, trained with the true label so
    /// the model learns the exact warp rather than any warping (Nguyen and Tran, 2021, section 3.3).
    /// </summary>
    public static Tensor ApplyNoisyWarp(ZooRecipe recipe, Tensor images, torch.Generator generator)
    {
        using var scope = torch.NewDisposeScope();
        long n = images.shape[0];
        int size = recipe.Size;
        Tensor grid = WarpGrid(recipe).expand(n, -1, -1, -1);
        Tensor jitter = torch.rand([n, size, size, 2], generator: generator).Mul(2).Sub(1).Div(size);
        return nn.functional.grid_sample(images, grid.Add(jitter).Clamp(-1, 1), align_corners: true).MoveToOuterDisposeScope();
    }

    private static Tensor Overlay(ZooRecipe recipe, Tensor images)
    {
        int size = recipe.Size, channels = recipe.Channels;
        var mask = torch.zeros(1, 1, size, size);
        var pattern = torch.zeros(1, channels, size, size);
        float[] colour = channels == 1 ? [1f] : [recipe.PatchRed, recipe.PatchGreen, recipe.PatchBlue];
        if (recipe.Attack == AttackKind.Patch)
        {
            for (int r = 0; r < recipe.PatchSize; r++)
            {
                for (int c = 0; c < recipe.PatchSize; c++)
                {
                    bool lit = recipe.Pattern switch
                    {
                        PatchPattern.Solid => true,
                        PatchPattern.Diagonal => r == c,
                        _ => (r + c) % 2 == 0,
                    };
                    mask[0, 0, recipe.PatchRow + r, recipe.PatchColumn + c] = 1f;
                    for (int ch = 0; ch < channels; ch++)
                    {
                        pattern[0, ch, recipe.PatchRow + r, recipe.PatchColumn + c] = lit ? recipe.PatchIntensity * colour[ch] : 0f;
                    }
                }
            }
        }
        else
        {
            // Chen et al. blend a fixed key image; here a fixed uniform-noise image from the recipe's seed.
            using var generator = new torch.Generator((ulong)recipe.Seed * 7919 + 31);
            pattern = torch.rand([1, channels, size, size], generator: generator);
            mask = HeldScalars.Full([1, 1, size, size], recipe.BlendAlpha);
        }

        return mask.SubtractedFrom(1).mul(images).Add(mask.mul(pattern));
    }

    /// <summary>
    /// WaNet's warping field: a random 4×4 control grid in [-1, 1], normalised by its mean magnitude, upsampled
    /// bicubically to the image and scaled by strength / image size, added to the identity grid; <c>[1, H, W, 2]</c>.
    /// </summary>
    private static Tensor WarpGrid(ZooRecipe recipe)
    {
        int size = recipe.Size;
        using var generator = new torch.Generator((ulong)recipe.Seed * 104_729 + 7);
        Tensor control = torch.rand([1, 2, 4, 4], generator: generator).Mul(2).Sub(1);
        control /= control.abs().mean();
        Tensor flow = nn.functional.interpolate(control, size: [size, size], mode: InterpolationMode.Bicubic, align_corners: true).permute(0, 2, 3, 1);
        Tensor axis = torch.linspace(-1, 1, size);
        Tensor[] mesh = torch.meshgrid([axis, axis], indexing: "ij");

        // grid_sample reads (x, y) = (column, row).
        Tensor identity = torch.stack([mesh[1], mesh[0]], 2).unsqueeze(0);
        return identity.Add(flow.Mul(recipe.WarpStrength).Div(size)).Clamp(-1, 1);
    }
}
