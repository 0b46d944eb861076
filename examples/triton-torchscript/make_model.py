"""Writes models/mlp/1/model.pt: a small seeded TorchScript MLP (4 -> 16 -> 3) for this example.

Run with Debian's Python, which has torch: /usr/bin/python3 make_model.py
"""
from pathlib import Path

import torch

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()
out = Path(__file__).resolve().parent / "models" / "mlp" / "1"
out.mkdir(parents=True, exist_ok=True)
torch.jit.script(model).save(str(out / "model.pt"))
print(f"wrote {out / 'model.pt'}")
