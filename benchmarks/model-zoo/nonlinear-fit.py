"""Design split only: the fit's ridge logistic regression against gradient-boosted regression trees (depth 1-3, shrinkage
0.1), over the fit's five features and over all eleven, by 10-fold cross-validation repeated over seeded splits. Each
row prints (AUROC, log loss, backdoored models above the 95th percentile of the clean ones, backdoored models). The
logistic row on the five features is slightly optimistic: they were chosen on this split. Pure Python 3, seconds.
    dotnet tools/Audit.ModelZoo/bin/Release/net10.0/Audit.ModelZoo.dll features --split design \
        --cache benchmarks/model-zoo-one-model > /tmp/design.csv
    python3 benchmarks/model-zoo/nonlinear-fit.py /tmp/design.csv
"""
import csv, math, random, sys
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__)))
from zoo_logistic import logistic, standardiser, sigmoid, auroc
rows = list(csv.DictReader(open(sys.argv[1])))
ALL = [c for c in rows[0].keys() if c not in ('name','architecture','images','layout','scaling','attack','source','target','label')]
USE = ['blend-inversion.statistic','contrastive-patch.statistic','logRatioGap','saliency-persistence.statistic','warp-inversion.statistic']
def X(r, cols): return [float(r[c]) for c in cols]
y = [int(r['label']) for r in rows]
def fit_log(xs, ys, cols):
    st = standardiser(xs); b = logistic([st(v) for v in xs], ys)
    return lambda v: sigmoid(sum(bb*t for bb,t in zip(b, st(v)+[1.0])))
def stump_fit(xs, r, w=None):
    # best single-feature threshold split minimizing squared error of residuals r
    n=len(xs); d=len(xs[0]); best=None
    for j in range(d):
        order = sorted(range(n), key=lambda i: xs[i][j])
        tot = sum(r); cnt = n; ls=0; lc=0
        for k in range(n-1):
            i=order[k]; ls+=r[i]; lc+=1
            if xs[order[k+1]][j]==xs[i][j] or lc<5 or cnt-lc<5: continue
            rs=tot-ls; rc=cnt-lc; gain = ls*ls/lc + rs*rs/rc
            if best is None or gain>best[0]: best=(gain,j,(xs[i][j]+xs[order[k+1]][j])/2)
    return best
def tree_fit(xs, r, p, depth):
    # regression tree on gradient r with Newton leaf values
    idx=list(range(len(xs)))
    def build(ids, dep):
        if dep==0 or len(ids)<10:
            num=sum(r[i] for i in ids); den=sum(p[i]*(1-p[i]) for i in ids)+1.0
            return ('leaf', num/den)
        s=stump_fit([xs[i] for i in ids],[r[i] for i in ids])
        if s is None:
            num=sum(r[i] for i in ids); den=sum(p[i]*(1-p[i]) for i in ids)+1.0
            return ('leaf', num/den)
        _,j,t=s; L=[i for i in ids if xs[i][j]<=t]; R=[i for i in ids if xs[i][j]>t]
        return ('split',j,t,build(L,dep-1),build(R,dep-1))
    return build(idx, depth)
def tree_eval(t, v):
    while t[0]=='split': t = t[3] if v[t[1]]<=t[2] else t[4]
    return t[1]
def fit_gbdt(xs, ys, rounds=100, lr=0.1, depth=2):
    base = math.log((sum(ys)+1)/(len(ys)-sum(ys)+1)); F=[base]*len(xs); trees=[]
    for _ in range(rounds):
        p=[sigmoid(f) for f in F]; r=[yy-pp for yy,pp in zip(ys,p)]
        t=tree_fit(xs,r,p,depth); trees.append(t)
        F=[f+lr*tree_eval(t,v) for f,v in zip(F,xs)]
    return lambda v: sigmoid(base+lr*sum(tree_eval(t,v) for t in trees))
def cv(method, cols, reps=5, k=10):
    res=[]
    for rep in range(reps):
        rnd=random.Random(1000+rep); pos=[i for i in range(len(rows)) if y[i]]; neg=[i for i in range(len(rows)) if not y[i]]
        rnd.shuffle(pos); rnd.shuffle(neg); folds=[pos[f::k]+neg[f::k] for f in range(k)]
        oof=[None]*len(rows)
        for f in range(k):
            test=set(folds[f]); tr=[i for i in range(len(rows)) if i not in test]
            m=method([X(rows[i],cols) for i in tr],[y[i] for i in tr])
            for i in test: oof[i]=m(X(rows[i],cols))
        P=[oof[i] for i in range(len(rows)) if y[i]]; N=[oof[i] for i in range(len(rows)) if not y[i]]
        ll=-sum(math.log(max(1e-6, oof[i] if y[i] else 1-oof[i])) for i in range(len(rows)))/len(rows)
        thr=sorted(N)[int(math.ceil(0.95*len(N)))-1]; caught=sum(p>thr for p in P)
        res.append((auroc(P,N), ll, caught))
    a=sum(r[0] for r in res)/reps; l=sum(r[1] for r in res)/reps; c=sum(r[2] for r in res)/reps
    return a,l,c,len([1 for v in y if v])
print(len(rows), 'models', sum(y), 'backdoored')
print('log 5 ', cv(lambda a,b: fit_log(a,b,USE), USE))
print('log all', cv(lambda a,b: fit_log(a,b,ALL), ALL))
for d,r,lr in [(1,100,0.1),(2,100,0.1),(2,50,0.1),(3,50,0.1)]:
    print('gbdt5 d%d r%d'%(d,r), cv(lambda a,b: fit_gbdt(a,b,r,lr,d), USE, reps=3))
    print('gbdtAll d%d r%d'%(d,r), cv(lambda a,b: fit_gbdt(a,b,r,lr,d), ALL, reps=3))
