"""The code MLflow runs to load a training run's model (models from code; see pyfunc_model.py)."""

from mlflow.models import set_model

from RMBG.tracking.pyfunc_model import KerasMaskModel

set_model(KerasMaskModel())
