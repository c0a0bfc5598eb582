from .crag_tail_loss import CragTailLoss
from .hill_loss import HillLoss

__all__ = ['CragTailLoss', 'HillLoss']
