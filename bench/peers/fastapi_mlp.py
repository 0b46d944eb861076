"""The FastAPI peer of benchmark B2: the same model.pt, the same OIP JSON in and out.

    BENCH_MODEL=<.../model.pt> /usr/bin/python3 -m uvicorn fastapi_mlp:app --app-dir bench/peers \
        --port P --workers 1

POST /v2/models/<name>/infer takes {"inputs":[{"name","shape","datatype","data"}]} and answers
{"model_name", "outputs":[{"name":"OUTPUT__0","shape":[n,k],"datatype":"FP32","data":[...]}]},
as a user would write it, with one torch thread. The endpoint is `async def`: FastAPI then calls it
on the event loop instead of its thread pool, the faster choice for a 70 µs forward pass.
"""
import os

import torch
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

torch.set_num_threads(1)
MODEL = torch.jit.load(os.environ["BENCH_MODEL"]).eval()
app = FastAPI()


class Tensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[float]


class InferRequest(BaseModel):
    inputs: list[Tensor]


@app.get("/v2/health/ready")
async def ready():
    return {}


@app.post("/v2/models/{name}/infer")
async def infer(name: str, request: InferRequest):
    if len(request.inputs) != 1 or request.inputs[0].datatype != "FP32":
        raise HTTPException(status_code=400, detail="one FP32 input expected")
    tensor = request.inputs[0]
    with torch.inference_mode():
        out = MODEL(torch.tensor(tensor.data, dtype=torch.float32).reshape(tensor.shape))
    return {"model_name": name,
            "outputs": [{"name": "OUTPUT__0", "shape": list(out.shape), "datatype": "FP32",
                         "data": out.flatten().tolist()}]}
