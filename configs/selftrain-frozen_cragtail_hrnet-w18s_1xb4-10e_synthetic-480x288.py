# Deprecated alias of selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py, the shipped stage two since
# it became the easy-to-hard rounds (kept for one release; use the new name).
_base_ = ['./selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py']
