#!/usr/bin/python3
"""Loads a sasrec model folder into the S3-Rec SASRec PyTorch module and
compares its scores with ours (docs/sasrec.md, section 7.2). Optional: not run
by the tests; needs torch and numpy.

    /usr/bin/python3 tools/compare_s3rec.py --model DIR --data FILE \
        [--peer ../shared/peer/sasrec_torch.py] [--users 200] [--k 10] [--program ./sasrec]

model.safetensors is parsed here directly (8-byte little-endian header length,
a JSON header, then the raw float32 tensors), its tensors renamed to the
module's parameters (the table in docs/sasrec.md), and the module run in
evaluation mode on the first --users sequences of --data (seq format, raw
ids; every item mapped through the folder's items.txt, unknown ones dropped,
as sasrec serve does). The same sequences go to `sasrec serve` (--program),
which answers with its top --k items and their scores. Printed, as one JSON
line: the largest absolute and relative difference between serve's scores and
PyTorch's for the same items, and for how many sequences PyTorch's own top-k
(the sequence's items excluded, equal scores by lower id, as serve ranks) is
serve's list, in the same order.

The S3-Rec module's item table has N + 2 rows (its last one a mask id for
pre-training); ours has N + 1: the extra row is set to zero and never ranked.
Only post-LayerNorm models with the -10000 mask (the seed's, the defaults)
have an S3-Rec counterpart.
"""

import argparse
import importlib.util
import json
import struct
import subprocess
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            sys.exit("%s: tensor %s is %s, expected F32" % (path, name, info["dtype"]))
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[base + a:base + b], dtype="<f4").reshape(info["shape"]).copy()
    return out


def mapping(layers):
    """Our tensor name -> the peer module's parameter name (S3-Rec's own spelling: docs/sasrec.md, section 7.2)."""
    m = {"item_emb.weight": "item_embeddings.weight", "pos_emb.weight": "position_embeddings.weight",
         "emb_norm.weight": "ln.weight", "emb_norm.bias": "ln.bias"}
    for i in range(layers):
        for ours, theirs in (("query", "query"), ("key", "key"), ("value", "value"), ("out", "dense")):
            for p in ("weight", "bias"):
                m["encoder.layers.%d.attn.%s.%s" % (i, ours, p)] = "attn.%d.%s.%s" % (i, theirs, p)
        for p in ("weight", "bias"):
            m["encoder.layers.%d.attn_norm.%s" % (i, p)] = "attn.%d.ln.%s" % (i, p)
            m["encoder.layers.%d.ffn.fc1.%s" % (i, p)] = "ffn.%d.dense_1.%s" % (i, p)
            m["encoder.layers.%d.ffn.fc2.%s" % (i, p)] = "ffn.%d.dense_2.%s" % (i, p)
            m["encoder.layers.%d.ffn_norm.%s" % (i, p)] = "ffn.%d.ln.%s" % (i, p)
    return m


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="model folder written by sasrec train")
    p.add_argument("--data", required=True, help="sequences to compare on: 'user item item ...' per line")
    p.add_argument("--peer", default="../shared/peer/sasrec_torch.py", help="the S3-Rec SASRec PyTorch module")
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--program", default="./sasrec")
    a = p.parse_args()

    cfg = json.load(open(a.model + "/config.json"))
    if cfg["norm"] != "post" or cfg["mask"] != "10000":
        sys.exit("only --norm post --mask 10000 models have an S3-Rec counterpart (this one: %s, %s)"
                 % (cfg["norm"], cfg["mask"]))
    items = [line.rstrip("\r\n") for line in open(a.model + "/items.txt", encoding="utf-8")]
    item_id = {raw: k + 1 for k, raw in enumerate(items)}
    N, L, H = cfg["n_items"], cfg["max_len"], cfg["hidden"]

    # the peer script reads its flags when imported: give it ours
    argv, sys.argv = sys.argv, [a.peer, "--data", a.data, "--threads", "1", "--max-len", str(L), "--hidden", str(H),
                                "--layers", str(cfg["layers"]), "--heads", str(cfg["heads"])]
    spec = importlib.util.spec_from_file_location("sasrec_torch", a.peer)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    sys.argv = argv
    import torch
    model = peer.SASRec(peer.ARGS, N + 2)
    model.eval()

    ours = read_safetensors(a.model + "/model.safetensors")
    names = mapping(cfg["layers"])
    if set(ours) != set(names):
        sys.exit("model.safetensors holds %s, expected %s" % (sorted(set(ours) ^ set(names)), "the table's names"))
    state = model.state_dict()
    for name, value in ours.items():
        target = names[name]
        if name == "item_emb.weight":  # (N + 1, H) into (N + 2, H): the mask row stays 0
            full = np.zeros((N + 2, H), dtype=np.float32)
            full[:N + 1] = value
            value = full
        if tuple(state[target].shape) != value.shape:
            sys.exit("%s %s does not fit %s %s" % (name, value.shape, target, tuple(state[target].shape)))
        state[target] = torch.from_numpy(value)
    model.load_state_dict(state)

    users, seqs = [], []
    for line in open(a.data, encoding="utf-8"):
        tok = line.split()
        if len(tok) < 2:
            continue
        known = [item_id[t] for t in tok[1:] if t in item_id]
        if known:
            users.append(tok[0])
            seqs.append(known)
        if len(users) == a.users:
            break
    ids = np.zeros((len(seqs), L), dtype=np.int64)
    for b, s in enumerate(seqs):
        s = s[-L:]
        ids[b, L - len(s):] = s
    with torch.no_grad():
        u = model(torch.from_numpy(ids))[:, -1, :]
        scores = (u @ model.item_embeddings.weight.t()).numpy()  # (users, N + 2)

    requests = "".join(json.dumps({"id": usr, "items": [items[i - 1] for i in s], "k": a.k}) + "\n"
                       for usr, s in zip(users, seqs))
    out = subprocess.run([a.program, "serve", "--model", a.model, "--threads", "1"], input=requests.encode(),
                         stdout=subprocess.PIPE, check=True).stdout.decode().splitlines()
    max_diff, same, max_rel = 0.0, 0, 0.0
    for b, line in enumerate(out):
        ans = json.loads(line)
        got = [item_id[raw] for raw in ans["items"]]
        diff = np.abs(np.array(ans["scores"]) - scores[b, got])
        max_diff = max(max_diff, float(diff.max()))
        max_rel = max(max_rel, float((diff / np.maximum(np.abs(scores[b, got]), 1e-6)).max()))
        ranked = scores[b, 1:N + 1].copy()
        ranked[np.array(seqs[b]) - 1] = -np.inf  # serve excludes the sequence's own items
        top = list(np.lexsort((np.arange(N), -ranked))[:a.k] + 1)
        same += top == got
    print(json.dumps({"users": len(out), "k": a.k, "max_abs_score_diff": max_diff, "max_rel_score_diff": max_rel,
                      "identical_top_k": same, "score_range": [float(scores[:, 1:N + 1].min()),
                                                               float(scores[:, 1:N + 1].max())]}))


if __name__ == "__main__":
    main()
