from .binary_distillation_loss import BinaryDistillationLoss
from .contextual_loss import ContextualRegularisationLoss
from .crag_tail_loss import CragTailLoss
from .hill_loss import HillLoss
from .splc_loss import SPLCCragTailLoss

__all__ = ['BinaryDistillationLoss', 'ContextualRegularisationLoss', 'CragTailLoss', 'HillLoss', 'SPLCCragTailLoss']
