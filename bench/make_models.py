"""Writes the benchmark models as Triton model repositories (run with /usr/bin/python3 + torch).

    make_models.py OUT_DIR

OUT_DIR/<repo>/<model>/config.pbtxt and OUT_DIR/<repo>/<model>/1/model.pt for each repo below,
and OUT_DIR/<model>.request.json: one OIP request (batch 1) for that model. Weights and inputs
are seeded, so every run and every system serves the same numbers.
"""
import json
import os
import sys

import torch

# name -> layer widths
MODELS = {"mlp": [64, 256, 256, 10], "tiny": [16, 64, 4]}
QUEUE_DELAY_US = 100
MAX_BATCH = 64


def make_module(widths, seed):
    torch.manual_seed(seed)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    module = torch.nn.Sequential(*layers).eval()
    return torch.jit.trace(module, torch.zeros(1, widths[0]))


def config_text(name, widths, batching):
    text = f"""name: "{name}"
platform: "pytorch_libtorch"
max_batch_size: {MAX_BATCH}
input [ {{ name: "INPUT__0" data_type: TYPE_FP32 dims: [ {widths[0]} ] }} ]
output [ {{ name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ {widths[-1]} ] }} ]
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
parameters {{ key: "INTRA_OP_THREAD_COUNT" value: {{ string_value: "1" }} }}
"""
    if batching:
        text += f"dynamic_batching {{ max_queue_delay_microseconds: {QUEUE_DELAY_US} }}\n"
    return text


def write_repo(out, repo, name, batching):
    widths = MODELS[name]
    model_dir = os.path.join(out, repo, name)
    os.makedirs(os.path.join(model_dir, "1"), exist_ok=True)
    with open(os.path.join(model_dir, "config.pbtxt"), "w") as f:
        f.write(config_text(name, widths, batching))
    make_module(widths, seed=1234).save(os.path.join(model_dir, "1", "model.pt"))


def main():
    out = sys.argv[1]
    torch.set_num_threads(1)
    for name in MODELS:
        write_repo(out, f"{name}-batching", name, True)
        write_repo(out, f"{name}-nobatching", name, False)
        torch.manual_seed(99)
        data = [round(float(x), 6) for x in torch.rand(MODELS[name][0])]
        body = {"inputs": [{"name": "INPUT__0", "shape": [1, len(data)], "datatype": "FP32",
                            "data": data}]}
        with open(os.path.join(out, f"{name}.request.json"), "w") as f:
            json.dump(body, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
