from .carcinosis_dataset import (AnnotationError, CarcinosisDataset, DataCheckError,
                                 parse_carcinosis_annotations)
from .checks import Problem
from .transforms import PointRandomAffine

__all__ = ['AnnotationError', 'CarcinosisDataset', 'DataCheckError', 'PointRandomAffine',
           'Problem', 'parse_carcinosis_annotations']
