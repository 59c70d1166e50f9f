"""The embedders: text -> unit float32 vectors. `protocol` is the Embedder every encoder meets (and
the helpers they share), `sbert` runs sentence-transformers, `onnx` runs the torch-free export that
`export` makes, and `choose` picks the one that serves. Heavy libraries load only in those modules."""
