"""The ONNX graph of a BERT-family encoder, built straight from its weights.

This is the graph that exporting the model with torch and then fusing it with ONNX
Runtime's transformer optimizer gives (the export recipe in onnx_export.py), written
out operator by operator: no torch, no tracer, no optimizer pass whose output depends
on their versions. The operators are ONNX Runtime's fused ones where they are faster
(EmbedLayerNormalization, Attention, Gelu from com.microsoft) and the plain ones where
they are not (residual Add and LayerNormalization, bias Add, see onnx_runtime._UNFUSED).

Inputs input_ids, attention_mask and token_type_ids (int64, batch × tokens, padded on
the right); output token_vectors (float32, batch × tokens × hidden), the last layer's
token vectors that sentence-transformers then pools.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retriever.errors import RetrieverError

# model_type → the prefix of its weights' names when saved from a task model, and
# whether positions count from the padding index + 1 (RoBERTa's way) instead of 0.
_FAMILIES = {"bert": ("bert.", False), "roberta": ("roberta.", True), "xlm-roberta": ("roberta.", True)}
# The activations ONNX Runtime's Gelu computes (the erf form): "gelu_new" and friends
# are the tanh approximation, another function.
_GELU = ("gelu",)


@dataclass(frozen=True)
class Shape:
    """What the graph needs from the model's config.json."""

    layers: int
    hidden: int
    heads: int
    epsilon: float
    position_offset: int  # the first position's row in the position table


def shape_of(config: dict) -> Shape:
    """The graph's shape from config.json; a RetrieverError naming what is not
    supported (the caller may then export with torch, if it is installed)."""
    kind = config.get("model_type")
    if kind not in _FAMILIES:
        raise RetrieverError(f"model type {kind!r} is not one this tool builds (bert, roberta, xlm-roberta)")
    if config.get("hidden_act", "gelu") not in _GELU:
        raise RetrieverError(f"activation {config.get('hidden_act')!r} is not one this tool builds (gelu)")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise RetrieverError(f"position embeddings {config.get('position_embedding_type')!r} are not supported (absolute)")
    offset = int(config.get("pad_token_id") or 0) + 1 if _FAMILIES[kind][1] else 0
    return Shape(
        layers=int(config["num_hidden_layers"]),
        hidden=int(config["hidden_size"]),
        heads=int(config["num_attention_heads"]),
        epsilon=float(config.get("layer_norm_eps", 1e-12)),
        position_offset=offset,
    )


def build(config: dict, weights: dict[str, np.ndarray]):
    """The model's fused ONNX graph (an onnx.ModelProto) from config.json and its
    weights by name (weights.read_weights)."""
    import onnx
    from onnx import TensorProto, helper

    shape = shape_of(config)
    graph = _Graph(_Weights(weights, _FAMILIES[config["model_type"]][0]), shape)
    x = graph.embeddings()
    for i in range(shape.layers):
        x = graph.encoder_layer(f"encoder.layer.{i}", x)
    graph.nodes.append(helper.make_node("Identity", [x], ["token_vectors"], name="token_vectors"))

    def int_input(name: str):
        return helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])

    proto = helper.make_graph(
        graph.nodes,
        "token_vectors",
        [int_input("input_ids"), int_input("attention_mask"), int_input("token_type_ids")],
        [helper.make_tensor_value_info("token_vectors", TensorProto.FLOAT, ["batch", "tokens", shape.hidden])],
        graph.initializers,
    )
    model = helper.make_model(proto, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8  # what ONNX Runtime 1.17, the oldest we allow, reads
    onnx.checker.check_model(model, full_check=False)
    return model


class _Graph:
    """The graph's nodes and weights as they are added, layer by layer."""

    def __init__(self, weights: _Weights, shape: Shape):
        self.w, self.shape = weights, shape
        self.nodes: list = []
        self.initializers: list = []

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, domain: str = "", **attributes) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attributes))
        return output

    def dense(self, x: str, prefix: str) -> str:  # x · Wᵀ + b, as torch's Linear
        product = self.node("MatMul", [x, self.const(f"{prefix}.weight", self.w[f"{prefix}.weight"].T)], f"{prefix}.product")
        return self.node("Add", [self.const(f"{prefix}.bias", self.w[f"{prefix}.bias"]), product], f"{prefix}.out")

    def layer_norm(self, x: str, prefix: str) -> str:
        gamma = self.const(f"{prefix}.weight", self.w[f"{prefix}.weight"])
        beta = self.const(f"{prefix}.bias", self.w[f"{prefix}.bias"])
        return self.node("LayerNormalization", [x, gamma, beta], f"{prefix}.out", axis=-1, epsilon=self.shape.epsilon)

    def embeddings(self) -> str:
        """Word, position and token-type embeddings summed and normalized, and the mask
        index the attention reads: one fused operator."""
        from onnx import TensorProto, helper

        w, const = self.w, self.const
        for name in ("input_ids", "token_type_ids", "attention_mask"):
            self.node("Cast", [name], f"{name}.int32", to=TensorProto.INT32)
        positions = w["embeddings.position_embeddings.weight"][self.shape.position_offset :]
        self.nodes.append(
            helper.make_node(
                "EmbedLayerNormalization",
                [
                    "input_ids.int32", "token_type_ids.int32",
                    const("embeddings.word_embeddings.weight", w["embeddings.word_embeddings.weight"]),
                    const("embeddings.position_embeddings.weight", positions),
                    const("embeddings.token_type_embeddings.weight", w["embeddings.token_type_embeddings.weight"]),
                    const("embeddings.LayerNorm.weight", w["embeddings.LayerNorm.weight"]),
                    const("embeddings.LayerNorm.bias", w["embeddings.LayerNorm.bias"]),
                    "attention_mask.int32",
                ],
                ["embeddings.out", "mask_index"], name="embeddings", domain="com.microsoft", epsilon=self.shape.epsilon,
            )
        )  # fmt: skip
        return "embeddings.out"

    def encoder_layer(self, p: str, x: str) -> str:
        """One encoder layer: fused attention, then the feed-forward block, each with its
        residual addition and layer norm."""
        w, node, dense = self.w, self.node, self.dense
        # One product for queries, keys and values: their weights side by side.
        qkv = [f"{p}.attention.self.{part}" for part in ("query", "key", "value")]
        qkv_weight = self.const(f"{p}.attention.qkv.weight", np.concatenate([w[f"{q}.weight"].T for q in qkv], axis=1))
        qkv_bias = self.const(f"{p}.attention.qkv.bias", np.concatenate([w[f"{q}.bias"] for q in qkv]))
        attended = node(
            "Attention",
            [x, qkv_weight, qkv_bias, "mask_index"],
            f"{p}.attention.out",
            domain="com.microsoft",
            num_heads=self.shape.heads,
        )
        residual = node("Add", [dense(attended, f"{p}.attention.output.dense"), x], f"{p}.attention.residual")
        h = self.layer_norm(residual, f"{p}.attention.output.LayerNorm")
        inner = node("Gelu", [dense(h, f"{p}.intermediate.dense")], f"{p}.intermediate.gelu", domain="com.microsoft")
        residual = node("Add", [dense(inner, f"{p}.output.dense"), h], f"{p}.output.residual")
        return self.layer_norm(residual, f"{p}.output.LayerNorm")


class _Weights:
    """The weights by their BertModel names, whether the file saved the encoder alone
    or inside a task model (bert.embeddings…); a missing one is named."""

    def __init__(self, weights: dict[str, np.ndarray], task_prefix: str):
        has_prefix = f"{task_prefix}embeddings.word_embeddings.weight" in weights
        self.weights, self.prefix = weights, task_prefix if has_prefix else ""

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.weights[self.prefix + name]
        except KeyError:
            raise RetrieverError(f"the weights have no {self.prefix + name}") from None
