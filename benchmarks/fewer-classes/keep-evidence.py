"""Writes a safetensors evidence file holding only the inputs whose label is one of CLASSES, relabelled by their place in
that list (the evidence of a model cut down to those classes by the benchmark tool's --keep-classes). Pure Python 3.
    python3 keep-evidence.py SRC DST a,b,c"""
import array, json, struct, sys
src, dst = sys.argv[1], sys.argv[2]; keep = [int(v) for v in sys.argv[3].split(',')]
b = open(src, 'rb').read(); hl = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + hl]); base = 8 + hl
x = h['inputs']; y = h['labels']
xs = array.array('f'); xs.frombytes(b[base + x['data_offsets'][0]:base + x['data_offsets'][1]])
ys = array.array('q'); ys.frombytes(b[base + y['data_offsets'][0]:base + y['data_offsets'][1]])
n = x['shape'][0]; per = len(xs) // n
rows = [i for i in range(n) if ys[i] in keep]
nx = array.array('f'); ny = array.array('q')
for i in rows: nx.extend(xs[i*per:(i+1)*per]); ny.append(keep.index(ys[i]))
hdr = {'inputs': {'dtype': 'F32', 'shape': [len(rows)] + x['shape'][1:], 'data_offsets': [0, len(nx)*4]},
       'labels': {'dtype': 'I64', 'shape': [len(rows)], 'data_offsets': [len(nx)*4, len(nx)*4 + len(ny)*8]}}
hb = json.dumps(hdr).encode(); hb += b' ' * ((8 - len(hb) % 8) % 8)
open(dst, 'wb').write(struct.pack('<Q', len(hb)) + hb + nx.tobytes() + ny.tobytes())
print(dst, len(rows))
