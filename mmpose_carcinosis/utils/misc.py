"""Small helpers shared by the tools."""
import re
from typing import List, Union


def natural_key(text: str) -> List[Union[int, str]]:
    """Sort key that orders digit runs by value: ``f2`` before ``f10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', text)]
