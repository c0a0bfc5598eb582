from .onnx_export import PointModelForExport, export_onnx, onnx_metadata

__all__ = ['PointModelForExport', 'export_onnx', 'onnx_metadata']
