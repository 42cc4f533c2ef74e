// Compiled by MSBuild's RoslynCodeTaskFactory (see TorchSharpNativeFix.targets); not part of any project.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class MakeLibTorchSharpLoadable : Task
{
    private const string LibraryName = "libLibTorchSharp.so";
    private const string MissingVersion = "GLIBCXX_3.4.32";
    private const uint ShtDynsym = 11;
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const uint ShtGnuVersym = 0x6fffffff;
    private const ushort VerFlgWeak = 0x2;
    private const byte StbWeak = 2;

    [Required]
    public string Directory { get; set; } = "";

    public override bool Execute()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return true;
        }

        string[] libraries = System.IO.Directory.GetFiles(Directory, LibraryName, SearchOption.AllDirectories);
        if (libraries.Length == 0 || SystemLibStdCxxHasVersion())
        {
            return true;
        }

        foreach (string library in libraries)
        {
            try
            {
                byte[] image = File.ReadAllBytes(library);
                int changed = Patch(image);
                if (changed > 0)
                {
                    // Write beside and rename: a half-written native library must never be loadable.
                    string temporary = library + ".patching";
                    File.WriteAllBytes(temporary, image);
                    File.Replace(temporary, library, null);
                    Log.LogMessage(MessageImportance.High,
                        $"Made {library} loadable without {MissingVersion} ({changed} field(s) edited).");
                }
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Log.LogWarning($"Could not make {library} loadable: {ex.Message}");
            }
        }

        return !Log.HasLoggedErrors;
    }

    private static bool SystemLibStdCxxHasVersion()
    {
        string[] candidates =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6",
            "/usr/lib/libstdc++.so.6",
            "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
        };
        byte[] needle = Encoding.ASCII.GetBytes(MissingVersion + "\0");
        foreach (string candidate in candidates)
        {
            if (File.Exists(candidate))
            {
                return IndexOf(File.ReadAllBytes(candidate), needle) >= 0;
            }
        }

        return false;
    }

    /// <summary>Edits the image in place; returns how many fields changed (0 when already loadable).</summary>
    private static int Patch(byte[] elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F'
            || elf[4] != 2 || elf[5] != 1)
        {
            throw new InvalidDataException("not a little-endian ELF64 file");
        }

        ulong sectionHeaders = U64(elf, 0x28);
        int sectionHeaderSize = U16(elf, 0x3a);
        int sectionCount = U16(elf, 0x3c);

        int verneed = -1, versym = -1, dynsym = -1;
        for (int i = 0; i < sectionCount; i++)
        {
            uint type = U32(elf, (int)sectionHeaders + i * sectionHeaderSize + 4);
            if (type == ShtGnuVerneed) verneed = i;
            else if (type == ShtGnuVersym) versym = i;
            else if (type == ShtDynsym) dynsym = i;
        }

        if (verneed < 0 || versym < 0 || dynsym < 0)
        {
            return 0;
        }

        int Header(int index) => (int)sectionHeaders + index * sectionHeaderSize;
        int Offset(int index) => (int)U64(elf, Header(index) + 0x18);
        int Link(int index) => (int)U32(elf, Header(index) + 0x28);

        int verneedStrings = Offset(Link(verneed));
        int changed = 0;
        int versionIndex = -1;

        // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32.
        // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
        int need = Offset(verneed);
        while (true)
        {
            int count = U16(elf, need + 2);
            int aux = need + (int)U32(elf, need + 8);
            for (int j = 0; j < count; j++)
            {
                string name = CString(elf, verneedStrings + (int)U32(elf, aux + 8));
                if (name == MissingVersion)
                {
                    versionIndex = U16(elf, aux + 6);
                    ushort flags = U16(elf, aux + 4);
                    if ((flags & VerFlgWeak) == 0)
                    {
                        W16(elf, aux + 4, (ushort)(flags | VerFlgWeak));
                        changed++;
                    }
                }

                aux += (int)U32(elf, aux + 12);
            }

            uint next = U32(elf, need + 12);
            if (next == 0) break;
            need += (int)next;
        }

        if (versionIndex < 0)
        {
            return changed;
        }

        int symbols = Offset(dynsym);
        int symbolCount = (int)(U64(elf, Header(dynsym) + 0x20) / 24);
        int versions = Offset(versym);
        for (int i = 0; i < symbolCount; i++)
        {
            if ((U16(elf, versions + i * 2) & 0x7fff) != versionIndex)
            {
                continue;
            }

            int symbol = symbols + i * 24;
            bool undefined = U16(elf, symbol + 6) == 0;
            if (!undefined)
            {
                continue;
            }

            W16(elf, versions + i * 2, 1);
            byte info = elf[symbol + 4];
            elf[symbol + 4] = (byte)((StbWeak << 4) | (info & 0xf));
            changed++;
        }

        return changed;
    }

    private static ushort U16(byte[] b, int o) => (ushort)(b[o] | b[o + 1] << 8);
    private static uint U32(byte[] b, int o) => (uint)(b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24);
    private static ulong U64(byte[] b, int o) => U32(b, o) | (ulong)U32(b, o + 4) << 32;
    private static void W16(byte[] b, int o, ushort v) { b[o] = (byte)v; b[o + 1] = (byte)(v >> 8); }

    private static string CString(byte[] b, int o)
    {
        int end = o;
        while (b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, o, end - o);
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i <= haystack.Length - needle.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }

        return -1;
    }
}
