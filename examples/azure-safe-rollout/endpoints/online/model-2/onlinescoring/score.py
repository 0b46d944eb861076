import json
import logging
import os

import joblib
import numpy


def init():
    """Loads the model once, when the instance starts."""
    global model
    # AZUREML_MODEL_DIR is the folder the deployment's model.path was copied to.
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model/sklearn_regression_model.pkl")
    model = joblib.load(model_path)
    logging.info("Init complete")


def run(raw_data):
    """Scores one request: {"data": [[10 numbers], ...]} -> a list of predictions."""
    logging.info("model 2: request received")
    data = numpy.array(json.loads(raw_data)["data"])
    result = model.predict(data)
    logging.info("Request processed")
    return result.tolist()
