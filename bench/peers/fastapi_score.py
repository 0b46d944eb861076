"""The FastAPI + uvicorn peer of benchmark B4: the same score.py behind FastAPI.

    AML_APP_ROOT=<code folder> AZUREML_ENTRY_SCRIPT=score.py AZUREML_MODEL_DIR=<model dir> \
        /usr/bin/python3 -m uvicorn fastapi_score:app --app-dir bench/peers --port P --workers 1

init() once when the worker imports the app; POST /score hands run() the raw body as text and
answers its result as JSON; GET / answers 200. The route is `async def`: FastAPI then calls run()
on the event loop instead of its thread pool, the faster choice for a sub-millisecond run().
"""
import json

from entry_script import load_entry_script
from fastapi import FastAPI, Request, Response


SCRIPT = load_entry_script()
app = FastAPI()


@app.get("/")
async def alive():
    return Response("Healthy", media_type="text/plain")


@app.post("/score")
async def score(request: Request):
    result = SCRIPT.run((await request.body()).decode())
    return Response(json.dumps(result), media_type="application/json")
