import json,math,statistics,sys
from collections import defaultdict
rows=[json.loads(l) for l in open(sys.argv[1] if len(sys.argv)>1 else 'benchmarks/model-zoo-saliency-reference/results.jsonl')]
def rz(vals,floor=0.2):
  fin=[v for v in vals if v is not None and math.isfinite(v)]
  med=statistics.median(fin); mad=statistics.median([abs(v-med) for v in fin])*1.4826
  sp=max(mad,floor); return [(v-med)/sp if v is not None and math.isfinite(v) else -99 for v in vals]
def auroc(pos,neg):
  s=0
  for p in pos:
    for n in neg: s+= 1 if p>n else 0.5 if p==n else 0
  return s/(len(pos)*len(neg)) if pos and neg else float('nan')
feat=defaultdict(dict)
for r in rows:
  d=r['saliencyReference']
  name=r['name']
  for vi,share in enumerate(d['shares']):
    m=d['model'][vi]; rf=d['reference'][vi]
    lm=[math.log(max(x,1e-12)) if x>0 else None for x in m]
    lr=[math.log(max(x,1e-12)) if x>0 else None for x in rf]
    ratio=[(a-b) if a is not None and b is not None else None for a,b in zip(lm,lr)]
    z=rz(lm); zr=rz(ratio)
    feat[name][f'model z@{share}']=max(z)
    feat[name][f'ratio z@{share}']=max(zr)
    feat[name][f'ratio max-med@{share}']=max(v for v in ratio if v is not None)-statistics.median([v for v in ratio if v is not None])
    feat[name][f'ref z@{share}']=max(rz(lr))
  feat[name]['orig']=r['saliencyPersistence']
  c=d['cosine']; feat[name]['1-min cos']=1-min(x for x in c if x!=0)
label={r['name']:(r['recipe']['attack'], r['implanted'], r['recipe']['architecture'], r['recipe']['poisonRate'], r['recipe'].get('sourceClass',-1)) for r in rows}
def fam(n):
  a,imp,arch,pr,src=label[n]
  if a=='None': return 'clean'
  if not imp: return None
  if src>=0: return 'source-specific'
  if a=='Patch' and pr<0.04: return 'low-rate'
  return a.lower()
names=list(feat)
print(len(names),'design lines;',sum(fam(n)=='clean' for n in names),'clean,',sum(fam(n) not in (None,'clean') for n in names),'backdoored with an implant that took')
keys=list(feat[names[0]])
fams=['blend','low-rate','patch','source-specific','warp']
print(f"{'feature':26} {'all':>5} "+' '.join(f'{f[:6]:>6}' for f in fams)+"   clean median by arch")
for k in keys:
  neg=[feat[n][k] for n in names if fam(n)=='clean']
  pos=[feat[n][k] for n in names if fam(n) not in (None,'clean')]
  per=[auroc([feat[n][k] for n in names if fam(n)==f],neg) for f in fams]
  arch=defaultdict(list)
  for n in names:
    if fam(n)=='clean': arch[label[n][2]].append(feat[n][k])
  print(f"{k:26} {auroc(pos,neg):5.3f} "+' '.join(f'{p:6.3f}' for p in per)+'   '+' '.join(f"{a[:5]}={statistics.median(v):.2f}" for a,v in sorted(arch.items())))
