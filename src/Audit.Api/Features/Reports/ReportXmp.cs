using System.Globalization;
using System.Security;
using System.Text;
using PdfSharp.Pdf;

namespace Audit.Api.Features.Reports;

/// <summary>
/// The report's XMP metadata packet (ISO 16684-1), attached as the catalog's /Metadata stream, uncompressed: tools that
/// index documents by metadata find the report id, its transparency-log index, the issuing service and the root
/// certificate's fingerprint without reading the page text.
/// </summary>
public static class ReportXmp
{
    public const string Namespace = "https://audit.local/ns/report/1.0/";

    public static void Attach(PdfDocument document, ReportModel model, ReportVerificationFacts facts)
    {
        var packet = Packet(model, facts);
        var metadata = new PdfDictionary(document);
        metadata.Elements["/Type"] = new PdfName("/Metadata");
        metadata.Elements["/Subtype"] = new PdfName("/XML");
        metadata.CreateStream(Encoding.UTF8.GetBytes(packet));
        document.Internals.AddObject(metadata);
        document.Internals.Catalog.Elements["/Metadata"] = metadata.Reference;
    }

    public static string Packet(ReportModel model, ReportVerificationFacts facts)
    {
        static string E(string value) => SecurityElement.Escape(value);
        return $"""
            <?xpacket begin="{'\uFEFF'}" id="W5M0MpCehiHzreSzNTczkc9d"?>
            <x:xmpmeta xmlns:x="adobe:ns:meta/">
             <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
              <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:audit="{Namespace}">
               <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Model audit report {E(model.ReportId)}</rdf:li></rdf:Alt></dc:title>
               <audit:reportId>{E(model.ReportId)}</audit:reportId>
               <audit:transparencyLogIndex>{facts.LogIndex.ToString(CultureInfo.InvariantCulture)}</audit:transparencyLogIndex>
               <audit:serviceUrl>{E(facts.ServiceUrl)}</audit:serviceUrl>
               <audit:verifyUrl>{E(facts.VerifyUrl)}</audit:verifyUrl>
               <audit:docsUrl>{E(facts.DocsUrl)}</audit:docsUrl>
               <audit:rootCertificateSha256>{E(facts.RootFingerprintSha256)}</audit:rootCertificateSha256>
              </rdf:Description>
             </rdf:RDF>
            </x:xmpmeta>
            <?xpacket end="r"?>
            """;
    }
}
