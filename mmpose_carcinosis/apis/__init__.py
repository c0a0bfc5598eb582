from .inference import inference_point_frames, init_point_model

__all__ = ['inference_point_frames', 'init_point_model']
