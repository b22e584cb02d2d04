"""The pipeline contract: the names and numbers every stage agrees on (a leaf package).

- `contract.pipeline`: class labels, padding length buckets, `max_length`, and the
  `pipeline.json` document that carries them to Triton's Python models and the gateway.
- `contract.features`: the drift features of a text and the one function computing them.
- `contract.layout`: Triton model names, artifact and file names, version folders.

Nothing here imports another package of the project, so every component (training,
export, serving, gateway, monitoring) may import it.
"""
