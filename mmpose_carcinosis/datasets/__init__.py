from .carcinosis_dataset import (AnnotationError, CarcinosisDataset,
                                 parse_carcinosis_annotations)

__all__ = ['AnnotationError', 'CarcinosisDataset',
           'parse_carcinosis_annotations']
