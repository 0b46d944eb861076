"""The batch scoring driver for MLflow models deployed without a scoring script (docs/batch.md,
"Worker protocol", item 5), after Azure's generated MLflow batch driver.

`init()` loads the model as no-code online deployments do (mlflow_model: sklearn, xgboost, pytorch,
python_function with a python_model or a custom loader).
`run(mini_batch)` reads each file into a DataFrame (`.csv` with pandas; `.parquet`/`.pqt` when
pyarrow or fastparquet is installed), applies the signature's column schema if the model has one,
calls predict() once per file and returns one CSV line per prediction: `row,prediction,file_name`
(row: the prediction's 0-based index within the file; file_name: the file's base name). A
prediction that is itself several values (a row of a 2-D array, a DataFrame row of several
columns) is written as a JSON list, e.g. `[0.25, 0.75]`.

A file that cannot be read or scored does not stop the others; its error (and traceback) goes to
stderr, and once every file was tried the mini-batch fails with "Not all input files were processed
successfully: " and the files' errors joined by "; ", as Azure's driver does.
"""

import csv
import importlib.util
import json
import os
import sys
import traceback
from typing import Any, List, Optional

import numpy as np
import pandas as pd

from berth_runner.mlflow_io import enforce_inputs, to_json
from berth_runner.mlflow_model import MlflowModel, load_model, model_dir_from_env, predict

_CSV = (".csv",)
_PARQUET = (".parquet", ".pqt")


class InputFileError(Exception):
    """One input file of the mini-batch could not be read or scored; the message says why."""


class _LineSink:
    """A csv.writer target that keeps each written row as one string (CPython's writer writes a
    whole row per write() call)."""

    __slots__ = ("write",)

    def __init__(self, lines: List[str]):
        self.write = lines.append


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(to_json(value), default=str)
    return str(value)


def prediction_cells(predictions: Any) -> List[str]:
    """One text cell per prediction: scalars with str(), several values as a JSON list."""
    if isinstance(predictions, dict):
        predictions = pd.DataFrame(predictions)
    if isinstance(predictions, pd.DataFrame):
        if predictions.shape[1] == 1:
            predictions = predictions.iloc[:, 0]
        else:
            predictions = predictions.to_numpy()
    if isinstance(predictions, pd.Series):
        values = predictions.tolist()
    else:
        array = np.asarray(predictions)
        values = array.reshape(1).tolist() if array.ndim == 0 else array.tolist()
    return [_cell(v) for v in values]


class MlflowBatchDriver:
    """init() and run(mini_batch) of a scoring script, for the MLflow model in the folder
    `model_folder` of `models_dir` (AZUREML_MODEL_DIR)."""

    def __init__(self, models_dir: Optional[str], model_folder: str):
        self._environ = {"AZUREML_MODEL_DIR": models_dir or "",
                         "MLFLOW_MODEL_FOLDER": model_folder}
        self.model_dir = os.path.join(models_dir or "", model_folder)
        self.model: Optional[MlflowModel] = None
        self._can_read_parquet = False

    def init(self) -> None:
        self.model = load_model(model_dir_from_env(self._environ))
        self._can_read_parquet = any(importlib.util.find_spec(name) is not None
                                     for name in ("pyarrow", "fastparquet"))

    def _read(self, path: str) -> pd.DataFrame:
        extension = os.path.splitext(path)[1]
        if extension.lower() in _CSV:
            return pd.read_csv(path)
        if extension.lower() in _PARQUET:
            if not self._can_read_parquet:
                raise InputFileError(f"Error processing input file: '{path}'. Reading parquet "
                                     "files needs pyarrow or fastparquet, which is not installed")
            return pd.read_parquet(path)
        raise InputFileError(f"Error processing input file: '{path}'. File type "
                             f"'{extension[1:]}' is not supported")

    def _score(self, path: str) -> List[List[str]]:
        data = self._read(path)
        signature = self.model.signature
        if signature is not None and signature.inputs is not None \
                and not signature.inputs.is_tensor:
            data = enforce_inputs(data, signature.inputs, f"file '{os.path.basename(path)}'")
        cells = prediction_cells(predict(self.model, data))
        file_name = os.path.basename(path)
        return [[row, cell, file_name] for row, cell in enumerate(cells)]

    def run(self, mini_batch: List[str]) -> List[str]:
        if self.model is None:
            raise RuntimeError("init() has not loaded the MLflow model")
        lines: List[str] = []
        writer = csv.writer(_LineSink(lines), lineterminator="")
        errors = []
        for path in mini_batch:
            try:
                writer.writerows(self._score(path))
            except InputFileError as error:
                errors.append(str(error))
                sys.stderr.write(f"{error}\n")
            except Exception as error:
                message = (f"Error processing input file: '{path}'. "
                           f"{type(error).__name__}: {error}")
                errors.append(message)
                sys.stderr.write(f"{message}\n{traceback.format_exc()}")
        if errors:
            raise Exception("Not all input files were processed successfully: "
                            + "; ".join(errors))
        return lines
