"""Trains the two small scikit-learn regression models the sample deploys (berth downloads
nothing): model-1 and model-2 answer the same request differently, so a rollout is visible."""

import pathlib

import joblib
import numpy
from sklearn.linear_model import Ridge

HERE = pathlib.Path(__file__).resolve().parent

for index, scale in ((1, 1.0), (2, 3.0)):
    features = numpy.arange(200, dtype=float).reshape(20, 10) % 7
    target = features.sum(axis=1) * scale
    model = Ridge(alpha=1.0).fit(features, target)
    folder = HERE / "endpoints" / "online" / f"model-{index}" / "model"
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "sklearn_regression_model.pkl")
    print(f"wrote {folder / 'sklearn_regression_model.pkl'}")
