using PdfSharp.Pdf;
using PdfSharp.Pdf.Advanced;

namespace Audit.Api.Features.Reports;

/// <summary>
/// Attaches a file to a PDF the way PDF 2.0 (ISO 32000-2, 7.11.4 and 14.13) and PDF/A-3 describe associated files:
/// an embedded file stream, a file specification with <c>/AFRelationship</c>, listed both in the catalog's
/// <c>/Names /EmbeddedFiles</c> name tree (what viewers and <c>pdfdetach</c> show) and in the catalog's <c>/AF</c>
/// array. Done before signing, the attachment is covered by the signature's byte range.
/// </summary>
internal static class PdfAttachments
{
    public static void Attach(PdfDocument document, string fileName, string mediaType, byte[] content, string description, DateTimeOffset modified)
    {
        var stream = new PdfDictionary(document);
        stream.Elements.SetName("/Type", "/EmbeddedFile");
        // A name cannot hold '/' literally: PDF escapes it as #2F (ISO 32000-2, 7.3.5).
        stream.Elements["/Subtype"] = new PdfName("/" + mediaType.Replace("/", "#2F", StringComparison.Ordinal));
        var parameters = new PdfDictionary(document);
        parameters.Elements.SetInteger("/Size", content.Length);
        parameters.Elements.SetString("/ModDate", "D:" + modified.UtcDateTime.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture) + "Z");
        stream.Elements["/Params"] = parameters;
        stream.CreateStream(content);
        document.Internals.AddObject(stream);

        var embedded = new PdfDictionary(document);
        embedded.Elements["/F"] = stream.Reference;
        embedded.Elements["/UF"] = stream.Reference;

        var specification = new PdfDictionary(document);
        specification.Elements.SetName("/Type", "/Filespec");
        specification.Elements.SetString("/F", fileName);
        specification.Elements["/UF"] = new PdfString(fileName, PdfStringEncoding.Unicode);
        specification.Elements["/Desc"] = new PdfString(description, PdfStringEncoding.Unicode);
        specification.Elements.SetName("/AFRelationship", "/Data");
        specification.Elements["/EF"] = embedded;
        document.Internals.AddObject(specification);

        var catalog = document.Internals.Catalog;
        var names = catalog.Elements.GetDictionary("/Names") ?? new PdfDictionary(document);
        var tree = new PdfDictionary(document);
        tree.Elements["/Names"] = new PdfArray(document, new PdfString(fileName), specification.Reference!);
        names.Elements["/EmbeddedFiles"] = tree;
        catalog.Elements["/Names"] = names;
        var associated = catalog.Elements.GetArray("/AF") ?? new PdfArray(document);
        associated.Elements.Add(specification.Reference!);
        catalog.Elements["/AF"] = associated;
    }
}
