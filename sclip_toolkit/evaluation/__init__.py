"""Evaluation parts of the runner: the resumable test loop and its prediction store (registered in mmseg's LOOPS)."""
from .loop import EvaluationInterrupted, ResumableTestLoop
from .mess_metric import MESSMetric, mess_scores
from .prediction_store import PredictionStore, SettingsMismatch, model_settings

__all__ = ['EvaluationInterrupted', 'ResumableTestLoop', 'PredictionStore', 'SettingsMismatch', 'model_settings',
           'MESSMetric', 'mess_scores']
