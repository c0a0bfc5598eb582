# Baseline: the Hill loss adaptation (focal positives with margin,
# Hill-weighted negatives, no reinforcement term).
_base_ = ['./cragtail_hrnet-w32_1xb4-100e_carcinosis-1280x736.py']
model = dict(
    head=dict(
        loss=dict(_delete_=True, type='HillLoss', gamma=2.0, lam=1.5, margin=1.0,
                  pos_thr=0.0, pos_weight='target')))
