"""Settings shared by every component: the state directory, the pipeline, Triton."""
