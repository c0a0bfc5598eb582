from .carcinosis_dataset import (AnnotationError, CarcinosisDataset,
                                 parse_carcinosis_annotations)
from .transforms import PointRandomAffine

__all__ = ['AnnotationError', 'CarcinosisDataset', 'PointRandomAffine',
           'parse_carcinosis_annotations']
