"""Knowledge distillation between two sigmoid heatmaps."""
import torch.nn.functional as F
from mmpose.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class BinaryDistillationLoss(nn.Module):
    r"""PA-Seg's distillation term for two-class maps, per pixel: with a
    student's logits :math:`s`, a teacher's logits :math:`t` and temperature
    :math:`T`, :math:`q = \sigma(t/T)`, :math:`p = \sigma(s/T)`,

    .. math::
        T^2 \left[ q \log\frac{q}{p} + (1 - q) \log\frac{1 - q}{1 - p} \right]

    the binary KL divergence of the student from the teacher (a softmax
    over two logits is a sigmoid of their difference), averaged over pixels
    and times ``loss_weight``. Computed from log-sigmoids in float32.

    Args:
        temperature (float): Defaults to 4 (PA-Seg).
        loss_weight (float): Defaults to 1.
    """

    def __init__(self, temperature: float = 4.0, loss_weight: float = 1.0):
        super().__init__()
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        """``student``, ``teacher``: logits (B, K, H, W); the teacher's are
        taken as constants."""
        T = self.temperature
        s, t = student.float() / T, teacher.detach().float() / T
        q = t.sigmoid()
        kl = (q * (F.logsigmoid(t) - F.logsigmoid(s))
              + (1 - q) * (F.logsigmoid(-t) - F.logsigmoid(-s)))
        return kl.mean() * T**2 * self.loss_weight
