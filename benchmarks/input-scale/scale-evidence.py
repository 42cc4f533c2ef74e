"""Writes a safetensors evidence file with its float32 `inputs` mapped by x * FACTOR + OFFSET (labels unchanged). Pure
Python 3.
    python3 scale-evidence.py SRC DST FACTOR [OFFSET]"""
import array, json, struct, sys
src, dst, factor = sys.argv[1], sys.argv[2], float(sys.argv[3])
offset = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
b = open(src, 'rb').read(); hl = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + hl]); base = 8 + hl
out = bytearray(b)
s, e = h['inputs']['data_offsets']; assert h['inputs']['dtype'] == 'F32'
values = array.array('f'); values.frombytes(b[base + s:base + e])
if sys.byteorder != 'little': values.byteswap()
scaled = array.array('f', (v * factor + offset for v in values))
if sys.byteorder != 'little': scaled.byteswap()
out[base + s:base + e] = scaled.tobytes()
open(dst, 'wb').write(bytes(out))
print(dst, min(scaled), max(scaled))
