"""Text to vectors: the embedders, the model's installation, its ONNX export (apart from
running it) and embedding on a Ray cluster."""
