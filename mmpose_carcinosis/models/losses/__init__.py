from .binary_distillation_loss import BinaryDistillationLoss
from .crag_tail_loss import CragTailLoss
from .hill_loss import HillLoss
from .splc_loss import SPLCCragTailLoss

__all__ = ['BinaryDistillationLoss', 'CragTailLoss', 'HillLoss', 'SPLCCragTailLoss']
