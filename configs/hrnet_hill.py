# Deprecated alias of hill_hrnet-w32_1xb4-100e_carcinosis-1280x736.py (kept for one release; use the new name).
_base_ = ['./hill_hrnet-w32_1xb4-100e_carcinosis-1280x736.py']
