"""Writes a safetensors evidence file whose float32 `inputs` are mapped per channel by (x - B[c]) / F[c] (labels
unchanged): the evidence of a model rewritten to read F[c] * x + B[c] of channel c (the benchmark tool's
`--scale-input F1:F2:F3,B1:B2:B3`). LAYOUT is nchw or nhwc. Pure Python 3.
    python3 map-evidence.py SRC DST LAYOUT F1:F2:F3 B1:B2:B3"""
import array, json, struct, sys
src, dst, layout = sys.argv[1], sys.argv[2], sys.argv[3]
factors = [float(v) for v in sys.argv[4].split(':')]
shifts = [float(v) for v in sys.argv[5].split(':')]
b = open(src, 'rb').read(); hl = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + hl]); base = 8 + hl
entry = h['inputs']; assert entry['dtype'] == 'F32' and len(entry['shape']) == 4
n, d1, d2, d3 = entry['shape']
channels = d1 if layout == 'nchw' else d3
assert channels == len(factors) == len(shifts), (channels, factors, shifts)
s, e = entry['data_offsets']
values = array.array('f'); values.frombytes(b[base + s:base + e])
if sys.byteorder != 'little': values.byteswap()
plane = d2 * d3
def channel(i):
    return (i // plane) % channels if layout == 'nchw' else i % channels
mapped = array.array('f', ((v - shifts[channel(i)]) / factors[channel(i)] for i, v in enumerate(values)))
lows = [min(mapped[i] for i in range(len(mapped)) if channel(i) == c) for c in range(channels)]
highs = [max(mapped[i] for i in range(len(mapped)) if channel(i) == c) for c in range(channels)]
if sys.byteorder != 'little': mapped.byteswap()
out = bytearray(b); out[base + s:base + e] = mapped.tobytes()
open(dst, 'wb').write(bytes(out))
print(dst, ' '.join(f'[{l:.3f}, {hi:.3f}]' for l, hi in zip(lows, highs)))
