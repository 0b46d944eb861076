"""The gunicorn + Flask peer of benchmark B4: what Azure's inference server
(azureml-inference-server-http) does with a score.py, without Azure's extras.

    AML_APP_ROOT=<code folder> AZUREML_ENTRY_SCRIPT=score.py AZUREML_MODEL_DIR=<model dir> \
        /usr/bin/python3 -m gunicorn -w 1 -k sync -b 127.0.0.1:P --chdir bench/peers flask_score:app

The scoring script is imported and its init() called once per worker (gunicorn imports the app in
each worker: no --preload); POST /score hands run() the raw body as text and answers its result as
JSON, as Azure's server does for a run() without inference-schema decorators. GET / answers 200
(Azure's liveness route).
"""
import json

from entry_script import load_entry_script
from flask import Flask, Response, request


SCRIPT = load_entry_script()
app = Flask(__name__)


@app.get("/")
def alive():
    return "Healthy"


@app.post("/score")
def score():
    result = SCRIPT.run(request.get_data(as_text=True))
    return Response(json.dumps(result), mimetype="application/json")
