using System.Text.Encodings.Web;
using System.Text.Json;

namespace Audit.Cli;

/// <summary>How <c>--json</c> output is written: indented, with "+" and non-ASCII text left unescaped for people to read.</summary>
internal static class CliJson
{
    public static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
