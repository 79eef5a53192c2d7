"""The paper-level stance network (torch), its batching and its ONNX export.

A MiniLM encoder reads ``[CLS] claim [SEP] title [SEP] s1 [SEP] … sn [SEP]``
(``tools.verifier.paper_encoding``). Two heads, as in MultiVerS:

- rationale: a score per sentence, from the hidden state of the ``[SEP]`` that closes it;
- stance: supports / contradicts / neither, from ``[CLS]`` concatenated with the sentences'
  states pooled by the softmax of their rationale scores — the label is read where the paper
  states its finding, not where it restates a premise.

Needs the ``train`` extra (torch, transformers); imported only by training and export.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tools.verifier.paper_encoding import Encoded


class PaperStanceNet(nn.Module):
    def __init__(self, encoder: nn.Module, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.rationale = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, 1))
        self.stance = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, hidden), nn.GELU(),
                                    nn.Dropout(dropout), nn.Linear(hidden, 3))

    @classmethod
    def from_base(cls, base_dir: Path | str, attn: str = "sdpa") -> PaperStanceNet:
        """A fresh net on the base encoder. Export with ``attn="eager"``: its ONNX graph runs about twice
        as fast on CPU as the one traced from SDPA attention."""
        from transformers import AutoModel

        enc = AutoModel.from_pretrained(str(base_dir), add_pooling_layer=False, attn_implementation=attn)
        return cls(enc, enc.config.hidden_size)

    def forward(self, input_ids, attention_mask, token_type_ids, sentence_positions, sentence_mask):
        hs = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state
        h = hs.size(-1)
        sent = torch.gather(hs, 1, sentence_positions.unsqueeze(-1).expand(-1, -1, h))
        r = self.rationale(sent).squeeze(-1)
        r = r.masked_fill(sentence_mask == 0, -1e4)
        w = torch.softmax(r, dim=-1).unsqueeze(-1)
        pooled = (w * sent).sum(dim=1)
        logits = self.stance(torch.cat([hs[:, 0], pooled], dim=-1))
        return logits, r


def collate(encs: list[Encoded], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a batch of encodings to its longest sequence and its most sentences."""
    n = max(len(e.input_ids) for e in encs)
    s = max(1, max(len(e.sentence_positions) for e in encs))
    ids = torch.full((len(encs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encs), n), dtype=torch.long)
    types = torch.zeros((len(encs), n), dtype=torch.long)
    pos = torch.zeros((len(encs), s), dtype=torch.long)
    smask = torch.zeros((len(encs), s), dtype=torch.long)
    for i, e in enumerate(encs):
        k = len(e.input_ids)
        ids[i, :k] = torch.tensor(e.input_ids)
        mask[i, :k] = 1
        types[i, :k] = torch.tensor(e.token_type_ids)
        m = len(e.sentence_positions)
        if m:
            pos[i, :m] = torch.tensor(e.sentence_positions)
            smask[i, :m] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types,
            "sentence_positions": pos, "sentence_mask": smask}


INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids", "sentence_positions", "sentence_mask"]


def export_onnx(net: PaperStanceNet, example: dict[str, torch.Tensor], fp32: Path, int8: Path,
                base_dir: Path | str | None = None) -> None:
    """fp32 ONNX (opset 17; dynamic batch, sequence and sentence axes) and its int8 dynamic quantization.
    With ``base_dir``, the weights are first moved into an eager-attention copy (a faster graph)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if base_dir is not None:
        eager = PaperStanceNet.from_base(base_dir, attn="eager")
        eager.load_state_dict(net.state_dict())
        net = eager
    net.eval()
    axes = {k: {0: "batch", 1: "sequence"} for k in INPUT_NAMES[:3]}
    axes.update({k: {0: "batch", 1: "sentences"} for k in INPUT_NAMES[3:]})
    axes["logits"] = {0: "batch"}
    axes["rationale"] = {0: "batch", 1: "sentences"}
    with torch.no_grad():
        torch.onnx.export(net, tuple(example[k] for k in INPUT_NAMES), str(fp32), input_names=INPUT_NAMES,
                          output_names=["logits", "rationale"], dynamic_axes=axes, opset_version=17,
                          dynamo=False)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
