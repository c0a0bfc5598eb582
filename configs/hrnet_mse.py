# Deprecated alias of mse_hrnet-w32_1xb4-100e_carcinosis-1280x736.py (kept for one release; use the new name).
_base_ = ['./mse_hrnet-w32_1xb4-100e_carcinosis-1280x736.py']
