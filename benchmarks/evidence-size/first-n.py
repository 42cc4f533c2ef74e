"""Writes the first N rows of every tensor of a safetensors file (inputs and labels) to another file: a smaller
evidence set in the same order. Pure Python 3.  python3 first-n.py SRC DST N"""
import json, struct, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = open(src, 'rb').read(); hl = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+hl]); base = 8+hl
out = {}; chunks = []; off = 0
for k, v in sorted(((k, v) for k, v in h.items() if k != '__metadata__'), key=lambda kv: kv[1]['data_offsets'][0]):
    s, e = v['data_offsets']; shape = v['shape']; row = (e - s) // shape[0]
    data = b[base+s: base+s+row*n]
    out[k] = {'dtype': v['dtype'], 'shape': [n] + shape[1:], 'data_offsets': [off, off+len(data)]}; chunks.append(data); off += len(data)
if '__metadata__' in h: out['__metadata__'] = h['__metadata__']
hj = json.dumps(out, separators=(',', ':')).encode(); hj += b' ' * ((8 - len(hj) % 8) % 8)
open(dst, 'wb').write(struct.pack('<Q', len(hj)) + hj + b''.join(chunks))
print(dst, {k: v['shape'] for k, v in out.items() if k != '__metadata__'})
