#!/usr/bin/env python3
"""Check an audit report receipt and its transparency-log inclusion by hand (Python stdlib + openssl).
Usage: check_receipt.py receipt.json signing-keys.json tree-head.json proof.json entry.json report.pdf"""
import base64, hashlib, json, subprocess, sys, tempfile, os

receipt, keys, head, proof, entry = (json.load(open(p)) for p in sys.argv[1:6])
pdf = open(sys.argv[6], 'rb').read()

def item(b, i):
    """Minimal CBOR reader (RFC 8949) for what COSE_Sign1 uses: ints, byte/text strings, arrays, maps, tags."""
    major, info = b[i] >> 5, b[i] & 31; i += 1
    if info < 24: n = info
    else:
        size = {24: 1, 25: 2, 26: 4, 27: 8}[info]; n = int.from_bytes(b[i:i + size], 'big'); i += size
    if major in (0, 1): return (n if major == 0 else -1 - n), i
    if major in (2, 3): return b[i:i + n], i + n
    if major == 4:
        out = []
        for _ in range(n): v, i = item(b, i); out.append(v)
        return out, i
    if major == 5:
        out = {}
        for _ in range(n): k, i = item(b, i); v, i = item(b, i); out[k] = v
        return out, i
    if major == 6: return item(b, i)          # tag 18 (COSE_Sign1): read what it wraps
    raise ValueError('unexpected CBOR')

def head_of(major, n):
    # Shortest form, as deterministic CBOR (and .NET's CborWriter) writes it.
    for info, size in ((24, 1), (25, 2), (26, 4)):
        if n < 24: return bytes([major << 5 | n])
        if n < 1 << (8 * size): return bytes([major << 5 | info]) + n.to_bytes(size, 'big')
    raise ValueError('too long')

def bstr(b): return head_of(2, len(b)) + b

cose = base64.b64decode(receipt['coseSign1'])
(protected, unprotected, payload, signature), _ = item(cose, 0)
headers, _ = item(protected, 0)
assert headers[1] == -7, 'alg must be ES256'
kid = base64.urlsafe_b64encode(headers[4]).rstrip(b'=').decode()
cert = next(k for k in keys['signingKeys'] if k['keyId'] == kid)
# RFC 9052 §4.4: Sig_structure = ["Signature1", body_protected, external_aad, payload]
tbs = bytes([0x84]) + head_of(3, 10) + b'Signature1' + bstr(protected) + bstr(b'') + bstr(payload)
def der_int(x):
    x = x.lstrip(b'\0') or b'\0'
    if x[0] & 0x80: x = b'\0' + x
    return b'\x02' + bytes([len(x)]) + x
sig = der_int(signature[:32]) + der_int(signature[32:])
sig = b'\x30' + bytes([len(sig)]) + sig
with tempfile.TemporaryDirectory() as d:
    open(f'{d}/cert.pem', 'w').write(cert['pem']); open(f'{d}/tbs', 'wb').write(tbs); open(f'{d}/sig', 'wb').write(sig)
    open(f'{d}/root.pem', 'w').write(keys['roots'][0]['pem'])
    subprocess.run(['openssl', 'verify', '-CAfile', f'{d}/root.pem', f'{d}/cert.pem'], check=True)
    subprocess.run(['openssl', 'x509', '-in', f'{d}/cert.pem', '-pubkey', '-noout', '-out', f'{d}/pub.pem'], check=True)
    subprocess.run(['openssl', 'dgst', '-sha256', '-verify', f'{d}/pub.pem', '-signature', f'{d}/sig', f'{d}/tbs'], check=True)

claims = json.loads(payload)
statement = claims['statement']
assert statement['reportSha256'] == hashlib.sha256(pdf).hexdigest(), 'receipt is for other bytes'
print('receipt signed by', cert['subject'], '- report', statement['reportId'], 'verdict', statement['verdict'])

# RFC 9162 §2.1.3.2: inclusion of the log entry under the signed tree head. The entry commits to the statement:
# it names the report's SHA-256 and the SHA-256 of the statement's exact bytes (older entries held the statement).
leaf_bytes = base64.b64decode(entry['entryBase64'])
logged = json.loads(leaf_bytes)
if 'statementSha256' in logged:
    statement_bytes = base64.b64decode(claims['statementBase64'])
    assert json.loads(statement_bytes) == statement, 'receipt statement differs from its bytes'
    assert leaf_bytes == base64.b64decode(claims['entryBase64']), 'log entry differs from the receipt'
    assert logged['reportSha256'] == statement['reportSha256'], 'log entry is for other bytes'
    assert logged['statementSha256'] == hashlib.sha256(statement_bytes).hexdigest(), 'log entry commits to another statement'
else:
    assert logged == statement, 'log entry differs from the receipt'
h = lambda b: hashlib.sha256(b).digest()
r = h(b'\0' + leaf_bytes)
assert r.hex() == claims['leafHash']
fn, sn = claims['logIndex'], head['treeSize'] - 1
for p in map(bytes.fromhex, proof['auditPath']):
    assert sn != 0
    if fn & 1 or fn == sn:
        r = h(b'\1' + p + r)
        while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
    else:
        r = h(b'\1' + r + p)
    fn >>= 1; sn >>= 1
assert sn == 0 and r.hex() == head['rootHash'], 'inclusion proof failed'
print(f"entry {claims['logIndex']} is included in the tree of size {head['treeSize']} with root {head['rootHash']}")
