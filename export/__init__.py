"""Export: trained model folder -> TorchScript, ONNX, INT8 ONNX -> parity gate -> publish.

The public entry points are `export.run.run_export` (from the MLflow registry) and
`export.run.export_model_dir` (from a model folder); both return a `PublishedVersion` and
raise `ExportError` subclasses, leaving the served repository untouched on failure.
"""
