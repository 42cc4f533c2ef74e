using System.Runtime.InteropServices;
using Audit.Evaluators.Runtime;

namespace Audit.Evaluators.Tests;

public sealed class NativeHeapTests
{
    [Fact]
    public void Trim_AfterFreeingHeapBlocksBelowALiveOne_ReleasesPagesOnGlibc()
    {
        // The test hosts are Debian (glibc); a musl or non-Linux host must report no glibc and trim nothing.
        bool glibcRuntime = OperatingSystem.IsLinux() && !RuntimeInformation.RuntimeIdentifier.Contains("musl", StringComparison.Ordinal);
        Assert.Equal(glibcRuntime, NativeHeap.IsGlibc);
        if (!NativeHeap.IsGlibc)
        {
            Assert.False(NativeHeap.Trim());
            return;
        }

        Assert.True(WithFreedHeapPages(NativeHeap.Trim));
    }

    [Fact]
    public void HeapTrimmer_TrimsAboveItsLine_ThenOnlyOnceTheProcessHasGrownPastWhatTheLastTrimLeft()
    {
        const long MiB = 1L << 20;
        long resident = 700 * MiB;
        var trims = new List<long>();
        var trimmer = new HeapTrimmer(line: 768 * MiB, regrowth: 128 * MiB, () => resident, () =>
        {
            trims.Add(resident);
            resident -= 50 * MiB; // what a trim hands back
            return true;
        });

        // Below the line: nothing.
        Assert.False(trimmer.TrimWhenGrown());
        // Above it: trims, and remembers what the trim left (750 MiB).
        resident = 800 * MiB;
        Assert.True(trimmer.TrimWhenGrown());
        // A step that faults the same pages in again is not trimmed, although the process is above the line
        // (the old rule trimmed here, at every step)...
        resident = 800 * MiB;
        Assert.False(trimmer.TrimWhenGrown());
        resident = 878 * MiB;
        Assert.False(trimmer.TrimWhenGrown());
        // ...growth by more than the regrowth is.
        resident = 879 * MiB;
        Assert.True(trimmer.TrimWhenGrown());
        Assert.Equal([800 * MiB, 879 * MiB], trims);

        // A process that is not glibc (resident unknown, 0) never trims.
        Assert.False(new HeapTrimmer(0, 0, () => 0, () => throw new InvalidOperationException("trimmed")).TrimWhenGrown());
    }

    [Fact]
    public void HeapTrimmer_OnThisProcess_TrimsAboveItsLineAndNotBelow()
    {
        long resident = NativeHeap.ResidentBytes();
        Assert.Equal(OperatingSystem.IsLinux(), resident > 0);

        // Above the process's size nothing is trimmed, whatever is free; below it, with free heap pages, it trims.
        Assert.False(new HeapTrimmer(line: long.MaxValue).TrimWhenGrown());
        Assert.Equal(NativeHeap.IsGlibc, WithFreedHeapPages(new HeapTrimmer(line: 0).TrimWhenGrown));
    }

    /// <summary>Runs <paramref name="trim"/> while this thread's arena holds freed, touched pages below a live block.</summary>
    private static bool WithFreedHeapPages(Func<bool> trim)
    {
        // 64 KiB blocks stay under glibc's smallest mmap threshold, so they come from this thread's arena; one block
        // allocated after them keeps the freed run from being the heap's top, which free() would trim on its own.
        const int Size = 64 * 1024;
        var blocks = new IntPtr[64];
        for (int i = 0; i < blocks.Length; i++)
        {
            blocks[i] = Marshal.AllocHGlobal(Size);
            for (int offset = 0; offset < Size; offset += 4096)
            {
                Marshal.WriteByte(blocks[i], offset, 1);
            }
        }

        IntPtr live = Marshal.AllocHGlobal(Size);
        try
        {
            foreach (IntPtr block in blocks)
            {
                Marshal.FreeHGlobal(block);
            }

            return trim();
        }
        finally
        {
            Marshal.FreeHGlobal(live);
        }
    }
}
