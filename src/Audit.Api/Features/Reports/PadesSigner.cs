using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Audit.Api.Infrastructure.Signing;
using PdfSharp.Pdf;

namespace Audit.Api.Features.Reports;

/// <summary>A signed report and the facts of its signature.</summary>
public sealed record SignedPdf(byte[] Bytes, DateTimeOffset SigningTime, X509Certificate2 Certificate);

/// <summary>
/// Signs a report as PAdES baseline B-B (ETSI EN 319 142-1): an invisible signature field whose signature dictionary
/// has SubFilter <c>ETSI.CAdES.detached</c> and a CAdES CMS (<see cref="CadesSignature"/>) over the whole file except
/// the <c>/Contents</c> hole.
/// </summary>
/// <remarks>
/// PDFsharp's own signing handler writes <c>adbe.pkcs7.detached</c> without signed attributes, so the signature is
/// placed here instead, in the one and only write of the file (no incremental update): the signature dictionary goes
/// into the document with fixed-width placeholders for <c>/ByteRange</c> and <c>/Contents</c>; after PDFsharp has
/// saved, the byte range is written over its placeholder (same width, so every xref offset stays right), the two
/// covered ranges are signed, and the DER signature is written hex-encoded into the hole, zero-padded.
/// </remarks>
public sealed class PadesSigner(ISigningKeyProvider keys, TimeProvider time)
{
    /// <summary>Bytes reserved for the DER CMS: an ECDSA signature with one or two certificates needs under 3 KiB.</summary>
    public const int ContentsCapacity = 8192;

    public const string SubFilter = "ETSI.CAdES.detached";
    public const string FieldName = "AuditReportSignature";

    private const string ByteRangePlaceholder = "[0 9999999999 9999999999 9999999999]";
    private static readonly string ContentsPlaceholder = "<" + new string('0', ContentsCapacity * 2) + ">";

    public SignedPdf Sign(PdfDocument document, string reason)
    {
        if (document.PageCount == 0)
        {
            throw new ArgumentException("A document without pages cannot carry a signature field.", nameof(document));
        }

        var certificate = keys.CurrentSigningCertificate;
        var signingTime = time.GetUtcNow();
        AddSignatureField(document, certificate, signingTime, reason);
        var bytes = PdfOutput.Save(document);
        FillSignature(bytes, certificate);
        return new SignedPdf(bytes, signingTime, certificate);
    }

    private static void AddSignatureField(PdfDocument document, X509Certificate2 certificate, DateTimeOffset signingTime, string reason)
    {
        var signature = new PdfDictionary(document);
        signature.Elements["/Type"] = new PdfName("/Sig");
        signature.Elements["/Filter"] = new PdfName("/Adobe.PPKLite");
        signature.Elements["/SubFilter"] = new PdfName("/" + SubFilter);
        signature.Elements["/ByteRange"] = new PdfLiteral(ByteRangePlaceholder);
        signature.Elements["/Contents"] = new PdfLiteral(ContentsPlaceholder);
        // PAdES B-B: the claimed signing time lives here, not in a CMS signing-time attribute.
        signature.Elements["/M"] = new PdfString(PdfDate(signingTime));
        signature.Elements["/Name"] = new PdfString(certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false));
        signature.Elements["/Reason"] = new PdfString(reason);
        document.Internals.AddObject(signature);

        var page = document.Pages[0];
        var field = new PdfDictionary(document);
        field.Elements["/Type"] = new PdfName("/Annot");
        field.Elements["/Subtype"] = new PdfName("/Widget");
        field.Elements["/FT"] = new PdfName("/Sig");
        field.Elements["/T"] = new PdfString(FieldName);
        var signatureReference = signature.Reference ?? throw new InvalidOperationException("The signature dictionary was not registered.");
        field.Elements["/V"] = signatureReference;
        field.Elements["/F"] = new PdfInteger(132); // print + locked
        field.Elements["/Rect"] = new PdfLiteral("[0 0 0 0]"); // invisible
        field.Elements["/P"] = page.Reference;
        document.Internals.AddObject(field);
        var fieldReference = field.Reference ?? throw new InvalidOperationException("The signature field was not registered.");

        var annotations = page.Elements.GetArray("/Annots") ?? new PdfArray(document);
        annotations.Elements.Add(fieldReference);
        page.Elements["/Annots"] = annotations;

        var form = new PdfDictionary(document);
        form.Elements["/Fields"] = new PdfArray(document, fieldReference);
        form.Elements["/SigFlags"] = new PdfInteger(3); // signatures exist; append only
        document.Internals.AddObject(form);
        document.Internals.Catalog.Elements["/AcroForm"] = form.Reference ?? throw new InvalidOperationException("The form was not registered.");
    }

    private void FillSignature(byte[] pdf, X509Certificate2 certificate)
    {
        var byteRangeAt = FindUnique(pdf, ByteRangePlaceholder);
        var holeStart = FindUnique(pdf, ContentsPlaceholder);
        var holeEnd = holeStart + ContentsPlaceholder.Length;

        var byteRange = string.Create(CultureInfo.InvariantCulture, $"[0 {holeStart} {holeEnd} {pdf.Length - holeEnd}]");
        var padded = byteRange[..^1].PadRight(ByteRangePlaceholder.Length - 1) + "]";
        Encoding.ASCII.GetBytes(padded).CopyTo(pdf, byteRangeAt);

        var signed = new byte[holeStart + (pdf.Length - holeEnd)];
        pdf.AsSpan(0, holeStart).CopyTo(signed);
        pdf.AsSpan(holeEnd).CopyTo(signed.AsSpan(holeStart));
        var cms = CadesSignature.SignDetached(signed, certificate, keys.Intermediates);
        if (cms.Length > ContentsCapacity)
        {
            throw new SigningKeyException($"The CMS signature ({cms.Length} bytes) does not fit the reserved {ContentsCapacity} bytes.");
        }

        Encoding.ASCII.GetBytes(Convert.ToHexString(cms)).CopyTo(pdf, holeStart + 1);
    }

    private static int FindUnique(byte[] pdf, string marker)
    {
        var needle = Encoding.ASCII.GetBytes(marker);
        var first = pdf.AsSpan().IndexOf(needle);
        if (first < 0 || pdf.AsSpan(first + 1).IndexOf(needle) >= 0)
        {
            throw new InvalidOperationException($"The signature placeholder {marker[..Math.Min(12, marker.Length)]}… must occur exactly once.");
        }

        return first;
    }

    internal static string PdfDate(DateTimeOffset value) =>
        "D:" + value.UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + "+00'00'";
}
