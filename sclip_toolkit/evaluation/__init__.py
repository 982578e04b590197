"""Evaluation parts of the runner, registered in mmseg's registries: the resumable test loop and its prediction
store (LOOPS), the per-class IoU and MESS metrics (METRICS), the progress and picture hooks (HOOKS)."""
from .hooks import EvalProgressHook, ShowDirHook
from .loop import EvaluationInterrupted, ResumableTestLoop
from .mess_metric import MESSMetric, mess_scores
from .metrics import PerClassIoUMetric
from .prediction_store import PredictionStore, SettingsMismatch, model_settings

__all__ = ['EvalProgressHook', 'ShowDirHook', 'EvaluationInterrupted', 'ResumableTestLoop', 'PerClassIoUMetric',
           'PredictionStore', 'SettingsMismatch', 'model_settings', 'MESSMetric', 'mess_scores']
