"""Own-size compactness from the saved masks: per class, the share of the mask's L1 inside the best square window whose
area is twice the mask's L1 (side ceil(sqrt(2 n))): a compact trigger of any size and near-square shape scores ~1,
a diffuse one the window's share of the image."""
import json, math, statistics as st, sys
def shares(mask, H, W, factor=2.0):
    # 2D prefix sums
    P=[[0.0]*(W+1) for _ in range(H+1)]
    for i in range(H):
        row=0.0
        for j in range(W):
            row+=mask[i*W+j]; P[i+1][j+1]=P[i][j+1]+row
    n=P[H][W]
    if n<=1e-9: return 0.0, n
    s=max(1,min(H,W,math.ceil(math.sqrt(factor*n))))
    best=0.0
    for i in range(H-s+1):
        for j in range(W-s+1):
            v=P[i+s][j+s]-P[i][j+s]-P[i+s][j]+P[i][j]
            if v>best: best=v
    return best/n, n
def readings(det, factor=2.0):
    shape=det['maskShape']; H,W=shape[-2],shape[-1]
    out=[]
    for m in det['masks']:
        sh,n=shares(m,H,W,factor); out.append(sh)
    return out
if __name__=='__main__':
    import csv
    out=open(sys.argv[2],'w')
    for path in sys.argv[1].split(','):
        for l in open(path):
            d=json.loads(l); p=d['probes'].get('trigger-character')
            if not p or not p.get('details',{}).get('masks'): continue
            det=p['details']
            rec={'name':d['name'],'maskNorms':det['maskNorms']}
            for f in (1.0,2.0,4.0): rec[f'own{f:g}']=[round(x,4) for x in readings(det,f)]
            for k in ('window3','window5','shift1','margin'): rec[k]=det[k]
            out.write(json.dumps(rec)+'\n')
