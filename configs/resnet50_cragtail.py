# Deprecated alias of cragtail_res50_1xb4-100e_carcinosis-1280x736.py (kept for one release; use the new name).
_base_ = ['./cragtail_res50_1xb4-100e_carcinosis-1280x736.py']
