# Deprecated alias of selftrain_cragtail_hrnet-w32_1xb4-30e_carcinosis-1280x736.py, the shipped stage two since
# it became the easy-to-hard rounds (kept for one release; use the new name).
_base_ = ['./selftrain_cragtail_hrnet-w32_1xb4-30e_carcinosis-1280x736.py']
