# Deprecated alias of cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py (kept for one release; use the new name).
_base_ = ['./cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py']
