"""Writes a safetensors evidence file without the rows of one label (int64 labels): evidence that lacks a class.
Pure Python 3.  python3 without-class.py SRC DST LABEL"""
import json, struct, sys
src, dst, drop = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = open(src, 'rb').read(); hl = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+hl]); base = 8+hl
lab = h['labels']; s, e = lab['data_offsets']; assert lab['dtype'] == 'I64'
labels = struct.unpack('<%dq' % lab['shape'][0], b[base+s:base+e])
keep = [i for i, l in enumerate(labels) if l != drop]
out = {}; chunks = []; off = 0
for k, v in sorted(((k, v) for k, v in h.items() if k != '__metadata__'), key=lambda kv: kv[1]['data_offsets'][0]):
    s, e = v['data_offsets']; shape = v['shape']; row = (e - s) // shape[0]
    data = b''.join(b[base+s+i*row: base+s+(i+1)*row] for i in keep)
    out[k] = {'dtype': v['dtype'], 'shape': [len(keep)] + shape[1:], 'data_offsets': [off, off+len(data)]}; chunks.append(data); off += len(data)
if '__metadata__' in h: out['__metadata__'] = h['__metadata__']
hj = json.dumps(out, separators=(',', ':')).encode(); hj += b' ' * ((8 - len(hj) % 8) % 8)
open(dst, 'wb').write(struct.pack('<Q', len(hj)) + hj + b''.join(chunks))
print(dst, len(keep))
