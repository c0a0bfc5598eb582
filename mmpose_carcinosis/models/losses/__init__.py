from .binary_distillation_loss import BinaryDistillationLoss
from .crag_tail_loss import CragTailLoss
from .hill_loss import HillLoss

__all__ = ['BinaryDistillationLoss', 'CragTailLoss', 'HillLoss']
