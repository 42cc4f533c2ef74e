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
    public void TrimWhenLarge_TrimsOnlyAboveItsLine()
    {
        long resident = NativeHeap.ResidentBytes();
        Assert.Equal(OperatingSystem.IsLinux(), resident > 0);

        // Above the process's size: nothing is trimmed, whatever is free.
        Assert.False(NativeHeap.TrimWhenLarge(long.MaxValue));
        if (!NativeHeap.IsGlibc)
        {
            Assert.False(NativeHeap.TrimWhenLarge(0));
            return;
        }

        // Below it, with free heap pages to hand back, it trims.
        Assert.True(WithFreedHeapPages(() => NativeHeap.TrimWhenLarge(0)));
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
