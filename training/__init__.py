"""Fine-tuning of the sentiment classifier, tracked in MLflow."""
